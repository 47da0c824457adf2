import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import { historyOf, revisionOf, storeSegmentOf } from '../helpers/delta-chain.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { startApi } from '../helpers/api.js';
import { runInProcess } from '../helpers/in-process.js';

/**
 * `restore latest --to ...` starts from the newest full backup whose chain reaches the target. When that backup's
 * artifact was removed from the store by hand (or lost), the restore began and failed late reading it, naming no
 * backup to use instead, where `restore latest` (no --to) and `restore <id> --to` refuse up front. Two snapshots, each
 * with a chain that reaches the newest change; the newer loses its artifact.
 */
let etcd: TestEtcd;
let dir: string;
let older: Manifest;
let newer: Manifest;
let olderSegment: Manifest;

const env = (extra: Record<string, string> = {}) => ({ RS_BACKUP_DIR: dir, RS_CLUSTER_NAME: 'pitr-unusable', ...extra });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rs-pitr-unusable-'));
  etcd = await startEtcd();
  const backup = async (): Promise<Manifest> => {
    const res = await runInProcess(['backup', '--json'], env({ RS_ETCD_ENDPOINTS: etcd.endpoint }));
    expect(res.code, res.stderr).toBe(0);
    return JSON.parse(res.stdout) as Manifest;
  };
  // A whole backup older still, without a chain: the newest whole one named below must be told from it.
  await etcd.ctl(['put', '/registry/configmaps/default/oldest', 'x']);
  await backup();
  for (let i = 0; i < 5; i++) await etcd.ctl(['put', `/registry/configmaps/default/a-${i}`, `a ${i}`]);
  older = await backup();
  for (let i = 0; i < 5; i++) await etcd.ctl(['put', `/registry/configmaps/default/b-${i}`, `b ${i}`]);
  newer = await backup();
  for (let i = 0; i < 5; i++) await etcd.ctl(['put', `/registry/configmaps/default/c-${i}`, `c ${i}`]);
  const top = await revisionOf(etcd);
  const events = await historyOf(etcd.endpoint, older.etcd!.revision + 1, top, () => Date.now());
  // Two segments: with the second lost (below) the chain still restores past its base, to 2 before the newer base's
  // revision (not up to it: the newer chain's segments would continue it to the newest change).
  await storeSegmentOf(env(), { base: older, fromRevision: older.etcd!.revision + 1, toRevision: newer.etcd!.revision - 2, events });
  olderSegment = await storeSegmentOf(env(), { base: older, fromRevision: newer.etcd!.revision - 1, toRevision: top, events });
  await storeSegmentOf(env(), { base: newer, fromRevision: newer.etcd!.revision + 1, toRevision: top, events });
  await rm(join(dir, 'pitr-unusable', newer.artifact));
}, 60_000);
afterAll(async () => {
  await etcd?.stop();
  await rm(dir, { recursive: true, force: true });
});

it('restore latest --to is refused up front when the full backup it starts from lost its artifact, naming the whole one to give', async () => {
  const target = join(dir, 'restored');
  for (const to of ['latest', String(newer.etcd!.revision + 2)]) {
    const res = await runInProcess(['restore', 'latest', '--to', to, '--data-dir', target], env());
    expect(res.code, res.stderr).toBe(1);
    expect(res.stderr).toContain(`"latest" would start from backup ${newer.id}, but its artifact ${newer.artifact} is missing from the store, so it restores nothing; ${older.id} (snapshot, taken ${older.createdAt}) restores the same point: give its id instead of "latest"`);
    expect(await readdir(dir)).not.toContain('restored');
  }
  // No etcd is asked: the refusal comes before anything is read.
  const keys = await runInProcess(['restore', 'latest', '--to', 'latest', '--keys', '--dry-run'], env({ RS_ETCD_ENDPOINTS: 'http://127.0.0.1:9' }));
  expect(keys.code, keys.stderr).toBe(1);
  expect(keys.stderr).toContain(`"latest" would start from backup ${newer.id}, but its artifact ${newer.artifact} is missing from the store`);
});

it('the API refuses a restore of latest to a point with 409 when that backup lost its artifact, and starts no job', async () => {
  const token = 'pitr-unusable-token-1234';
  const api = await startApi(env({ RS_API_TOKEN: token, RS_ETCD_ENDPOINTS: 'http://127.0.0.1:9' }));
  try {
    const res = await api.call('/api/v1/restores', { method: 'POST', token, json: { backupId: 'latest', to: 'latest', dryRun: true } });
    const body = (await res.json()) as { error: string };
    expect(res.status, JSON.stringify(body)).toBe(409);
    expect(body.error).toContain(`"latest" would start from backup ${newer.id}, but its artifact ${newer.artifact} is missing from the store, so it restores nothing; ${older.id} `);
    expect(api.jobs.list()).toEqual([]);
  } finally {
    await api.stop();
  }
});

it('when no other chain reaches the point, the refusal names the newest whole backup and how far it restores', async () => {
  // The older chain's last segment is gone too: only the newer (unusable) backup's chain reaches the newest change.
  const folder = join(dir, 'pitr-unusable');
  for (const f of await readdir(folder)) if (f.startsWith(olderSegment.id)) await rm(join(folder, f));
  const res = await runInProcess(['restore', 'latest', '--to', 'latest', '--data-dir', join(dir, 'restored')], env());
  expect(res.code, res.stderr).toBe(1);
  expect(res.stderr).toContain(
    `"latest" would start from backup ${newer.id}, but its artifact ${newer.artifact} is missing from the store, so it restores nothing; no whole full backup reaches that point; the newest whole one is ${older.id} (snapshot, taken ${older.createdAt}), which restores up to revision ${newer.etcd!.revision - 2}`,
  );
});
