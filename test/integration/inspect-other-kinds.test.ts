import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';

/**
 * `inspect` of a backup it cannot read (a render listing, a delta segment) names the command that reads it, as it does
 * for a key dump. Stores an operator upgrades hold such backups from every version: gzip render listings as the first
 * versions wrote them (8702e40, 2026-11-22) and delta segments as continuous backups first wrote them (98ad095,
 * 2026-12-04); before, inspect said only "... not an etcd snapshot" and left the operator to guess.
 */
describe('inspect of a render listing or a delta segment', () => {
  let etcd: TestEtcd;
  let dir: string;
  let renderId: string;
  let snapshotId: string;
  const segmentId = '20261204T200000.000Z-0a1b2c';

  const env = () => ({ RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: join(dir, 'store'), RS_CLUSTER_NAME: 'prod' });
  const take = async (strategy: string, extra: Record<string, string> = {}) => {
    const res = await runCli(['backup', '--json', '--strategy', strategy], { ...env(), ...extra });
    expect(res.code, res.stderr).toBe(0);
    return JSON.parse(res.stdout.trim().split('\n').at(-1)!) as { id: string; etcd: { revision: number } };
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rs-inspect-kinds-'));
    etcd = await startEtcd();
    await etcd.ctl(['put', '/registry/pods/shop/web-0', '{"kind":"Pod","apiVersion":"v1","metadata":{"name":"web-0","namespace":"shop"}}']);
    const snapshot = await take('snapshot');
    snapshotId = snapshot.id;
    // The first versions compressed with gzip (no zstd yet): <id>.render.jsonl.gz.
    renderId = (await take('render', { RS_COMPRESSION: 'gzip' })).id;
    // A delta segment's manifest exactly as 98ad095 wrote it (its artifact's bytes matter not: inspect refuses first).
    const artifact = Buffer.from('not read by inspect');
    const manifest = {
      format: 1, id: segmentId, cluster: 'prod', strategy: 'delta', createdAt: '2026-12-04T20:00:00.000Z',
      artifact: `${segmentId}.delta.tar.zst`, contentType: 'delta-events', compression: 'zstd', encryption: 'none',
      sha256: createHash('sha256').update(artifact).digest('hex'), sizeBytes: artifact.length, rawSizeBytes: 46080,
      etcd: { version: '3.4.23', revision: snapshot.etcd.revision + 2, apiVersion: 'v3' },
      tool: { name: 'reshifter', version: '0.1.0' }, durationMs: 7,
      base: snapshotId, fromRevision: snapshot.etcd.revision + 1, toRevision: snapshot.etcd.revision + 2, events: 2,
      firstEventAt: '2026-12-04T19:59:59.000Z', lastEventAt: '2026-12-04T19:59:59.500Z',
    };
    await writeFile(join(dir, 'store', 'prod', manifest.artifact), artifact);
    await writeFile(join(dir, 'store', 'prod', `${segmentId}.manifest.json`), JSON.stringify(manifest, null, 2));
  });
  afterAll(async () => {
    await etcd?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('a render listing: its status and its keys name stats <id>', async () => {
    for (const args of [[renderId], [renderId, '--keys']]) {
      const res = await runCli(['inspect', ...args], env());
      expect(res.code).toBe(1);
      expect(res.stderr).toContain(`is a render backup (jsonl), not an etcd snapshot: \`inspect\` reads snapshots and key dumps; a render listing is read by \`stats ${renderId}\``);
    }
    const stats = await runCli(['stats', renderId], env());
    expect(stats.code, stats.stderr).toBe(0);
  });

  it('a delta segment: names its base and the commands that read its changes', async () => {
    const res = await runCli(['inspect', segmentId], env());
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`is a delta backup (delta-events), not an etcd snapshot: it holds the changes recorded after backup ${snapshotId}; \`inspect\` reads that backup`);
    expect(res.stderr).toContain('`restore ... --to` applies the changes');
    const base = await runCli(['inspect', snapshotId], env());
    expect(base.code, base.stderr).toBe(0);
  });
});
