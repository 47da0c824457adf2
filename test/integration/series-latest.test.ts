import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import { loadDataset } from '../../src/demo/load-dataset.js';
import { sampleDataset } from '../../src/demo/sample-data.js';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { runInProcess } from '../helpers/in-process.js';

/**
 * Series in one local store that holds every kind of backup, as a cluster with hourly render listings, daily
 * snapshots and the odd key dump does: retention counts each series on its own (prune and the retention after a
 * backup).
 */
let etcd: TestEtcd;
let work: string;

beforeAll(async () => {
  etcd = await startEtcd();
  work = await mkdtemp(join(tmpdir(), 'rs-series-'));
  const client = new Etcd3({ hosts: etcd.endpoint });
  await loadDataset(client, sampleDataset({ namespaces: 2, podsPerNamespace: 2, podSpecBytes: 50 }));
  client.close();
});

afterAll(async () => {
  await Promise.all([etcd?.stop(), work && rm(work, { recursive: true, force: true })]);
});

const envOf = (cluster: string, extra: Record<string, string> = {}) => ({
  RS_ETCD_ENDPOINTS: etcd.endpoint,
  RS_BACKUP_DIR: join(work, 'store'),
  RS_CLUSTER_NAME: cluster,
  ...extra,
});

/** One backup of `strategy` through the CLI; its manifest. */
async function backup(cluster: string, strategy: string, extra: Record<string, string> = {}): Promise<Manifest> {
  const res = await runInProcess(['backup', '--strategy', strategy, '--json'], envOf(cluster, extra));
  expect(res.stderr).toBe('');
  expect(res.code).toBe(0);
  // render prints its listing first; the manifest is the last line.
  const m = JSON.parse(res.stdout.trim().split('\n').at(-1)!) as Manifest;
  expect(m.strategy).toBe(strategy);
  return m;
}

async function listIds(cluster: string, args: string[] = []): Promise<string[]> {
  const res = await runInProcess(['list', '--json', ...args], envOf(cluster));
  expect(res.code).toBe(0);
  return (JSON.parse(res.stdout) as Manifest[]).map((m) => m.id);
}

describe('retention per series', () => {
  const cluster = 'retention';
  const made: Record<string, Manifest> = {};

  beforeAll(async () => {
    // Oldest first; no retention variable is set, so nothing is deleted yet.
    for (const [name, strategy] of [
      ['s1', 'snapshot'], ['r1', 'render'], ['s2', 'snapshot'], ['r2', 'render'], ['w1', 'raw'], ['r3', 'render'],
      ['f1', 'filter:services,deployments'], ['s3', 'snapshot'], ['r4', 'render'], ['f2', 'filter:deployments,services'],
    ] as const) {
      made[name] = await backup(cluster, strategy);
    }
    expect(await listIds(cluster)).toHaveLength(10);
  });

  const idsOf = (...names: string[]) => names.map((n) => made[n]!.id);

  it('prune --dry-run --json: KEEP_LAST=2 keeps two of each series, and says which series each backup is in', async () => {
    const res = await runInProcess(['prune', '--dry-run', '--json'], envOf(cluster, { RS_RETENTION_KEEP_LAST: '2' }));
    expect(res.code).toBe(0);
    const out = JSON.parse(res.stdout) as { dryRun: boolean; deleted: string[]; kept: string[]; decisions: Array<{ id: string; series: string; keep: boolean; reasons: string[] }> };
    expect(out.dryRun).toBe(true);
    expect(out.deleted.sort()).toEqual(idsOf('r2', 'r1', 's1').sort());
    expect(out.kept.sort()).toEqual(idsOf('f2', 'r4', 's3', 'f1', 'r3', 'w1', 's2').sort());
    const seriesOfId = Object.fromEntries(out.decisions.map((d) => [d.id, d.series]));
    expect(seriesOfId).toEqual({
      ...Object.fromEntries(idsOf('s1', 's2', 's3').map((id) => [id, 'snapshot'])),
      ...Object.fromEntries(idsOf('r1', 'r2', 'r3', 'r4').map((id) => [id, 'render'])),
      [made.w1!.id]: 'raw',
      // Both orders of the same resources are one series.
      ...Object.fromEntries(idsOf('f1', 'f2').map((id) => [id, 'filter:deployments,services'])),
    });
    expect(out.decisions.find((d) => d.id === made.w1!.id)!.reasons).toEqual(['newest', 'last']);
    // A dry run deletes nothing.
    expect(await listIds(cluster)).toHaveLength(10);
  });

  it('prune --dry-run as text (the built CLI): a line per backup with its series, then the counts per series', async () => {
    const res = await runCli(['prune', '--dry-run'], envOf(cluster, { RS_RETENTION_KEEP_LAST: '2' }));
    expect(res.code).toBe(0);
    const lines = res.stdout.trim().split('\n');
    expect(lines).toContain(`would delete\t${made.s1!.id}\tsnapshot`);
    expect(lines).toContain(`would delete\t${made.r1!.id}\trender`);
    expect(lines).toContain(`keep\t${made.w1!.id}\traw\tnewest,last`);
    expect(lines).toContain(`keep\t${made.f1!.id}\tfilter:deployments,services\tlast`);
    expect(lines.slice(-5)).toEqual([
      'filter:deployments,services: 2 kept, 0 would delete',
      'raw: 1 kept, 0 would delete',
      'render: 2 kept, 2 would delete',
      'snapshot: 2 kept, 1 would delete',
      '7 kept, 3 would delete',
    ]);
  });

  it('after a backup, KEEP_LAST=1 keeps the newest of every series (not only the backup just made)', async () => {
    const r5 = await backup(cluster, 'render', { RS_RETENTION_KEEP_LAST: '1' });
    expect(await listIds(cluster)).toEqual([r5.id, ...idsOf('f2', 's3', 'w1')]);
    // Nothing but manifests and their artifacts is left: the deleted backups' files are gone.
    const files = await readdir(join(work, 'store', cluster));
    expect(files.filter((f) => f.endsWith('.manifest.json'))).toHaveLength(4);
    expect(files).toHaveLength(8);
  });
});
