import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import type { KeyRestoreReport } from '../../src/ops/restore-keys.js';
import { loadDataset } from '../../src/demo/load-dataset.js';
import { sampleDataset } from '../../src/demo/sample-data.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { runInProcess } from '../helpers/in-process.js';
import { parseGetJson, type CtlKeyValue } from '../unit/snapshot/etcdctl-json.js';

/**
 * `restore <snapshot-id> --keys`: last night's snapshot brings back one deleted namespace into the running etcd,
 * through the key-dump restore's planner and writer (filters, dry run, leases).
 */
let etcd: TestEtcd;
let work: string;
let snapshot: Manifest;
/** team-1's keys (and its Namespace) before they were deleted. */
let team1: CtlKeyValue[];

const env = (extra: Record<string, string> = {}) => ({ RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: join(work, 'store'), ...extra });
const inTeam1 = (key: Buffer) => {
  const k = key.toString();
  return k === '/registry/namespaces/team-1' || k.split('/').slice(2).includes('team-1');
};

async function everything(): Promise<{ revision: number; kvs: CtlKeyValue[] }> {
  return parseGetJson(await etcd.ctl(['get', '', '--from-key', '-w', 'json']));
}

beforeAll(async () => {
  etcd = await startEtcd();
  work = await mkdtemp(join(tmpdir(), 'rs-snapkeys-'));
  const client = new Etcd3({ hosts: etcd.endpoint });
  try {
    await loadDataset(client, sampleDataset({ namespaces: 3, podsPerNamespace: 8, edgeCases: true }));
  } finally {
    client.close();
  }
  const res = await runInProcess(['backup', '--json'], env());
  expect(res.code, res.stderr).toBe(0);
  snapshot = JSON.parse(res.stdout) as Manifest;
  expect(snapshot.contentType).toBe('etcd-snapshot');
  team1 = (await everything()).kvs.filter((kv) => inTeam1(kv.key));
  expect(team1.length).toBeGreaterThan(10);
  expect(team1.some((kv) => kv.lease !== 0n)).toBe(true);
  // The accident: team-1 is deleted, and the rest of the cluster moves on.
  const del = new Etcd3({ hosts: etcd.endpoint });
  try {
    for (const kv of team1) await del.delete().key(kv.key).exec();
    await del.put('/registry/configmaps/team-2/after-the-snapshot').value('keep me');
  } finally {
    del.close();
  }
});

afterAll(async () => {
  await Promise.all([etcd?.stop(), work && rm(work, { recursive: true, force: true })]);
});

describe('restore <snapshot-id> --keys', () => {
  it('--dry-run plans team-1 back and writes nothing', async () => {
    const before = await everything();
    const res = await runInProcess(['restore', snapshot.id, '--keys', '--dry-run', '--json'], env({ RS_INCLUDE_NAMESPACES: 'team-1' }));
    expect(res.code, res.stderr).toBe(0);
    const report = JSON.parse(res.stdout) as KeyRestoreReport;
    expect(report).toMatchObject({ id: snapshot.id, dryRun: true, written: 0 });
    expect(report.totals.create).toBe(team1.length);
    expect(report.totals.update).toBe(0);
    expect(report.totals.skippedBy.filtered).toBeGreaterThan(0);
    const after = await everything();
    expect(after.revision).toBe(before.revision);
    expect(after.kvs.filter((kv) => inTeam1(kv.key))).toEqual([]);
  });

  it('brings back the deleted namespace with its values and leases, and leaves everything else alone', async () => {
    const before = await everything();
    const res = await runInProcess(['restore', snapshot.id, '--keys'], env({ RS_INCLUDE_NAMESPACES: 'team-1' }));
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(new RegExp(`restored ${team1.length} keys into`));
    const after = await everything();
    const restored = after.kvs.filter((kv) => inTeam1(kv.key));
    expect(restored.map((kv) => [kv.key.toString('base64'), kv.value.toString('base64')])).toEqual(
      team1.map((kv) => [kv.key.toString('base64'), kv.value.toString('base64')]),
    );
    // Every other key is exactly as it was: not rewritten, and the key written after the snapshot is still there.
    const others = (kvs: CtlKeyValue[]) => kvs.filter((kv) => !inTeam1(kv.key)).map((kv) => [kv.key.toString('base64'), kv.modRevision]);
    expect(others(after.kvs)).toEqual(others(before.kvs));
    expect(after.kvs.some((kv) => kv.key.toString() === '/registry/configmaps/team-2/after-the-snapshot')).toBe(true);
    // Leased keys come back on a fresh lease with the granted TTL, never as permanent keys.
    const leased = team1.filter((kv) => kv.lease !== 0n).map((kv) => kv.key.toString('base64'));
    const back = restored.filter((kv) => leased.includes(kv.key.toString('base64')));
    expect(back.length).toBe(leased.length);
    for (const kv of back) {
      expect(kv.lease).not.toBe(0n);
      expect(team1.map((t) => t.lease)).not.toContain(kv.lease);
    }
    const ttl = JSON.parse(await etcd.ctl(['lease', 'timetolive', back[0]!.lease.toString(16), '-w', 'json'])) as { 'granted-ttl': number; ttl: number };
    expect(ttl['granted-ttl']).toBe(3600);
    expect(ttl.ttl).toBeGreaterThan(3000);
  });

  it('a second run finds everything in place; --skip-existing skips; a snapshot id without --keys still asks for --data-dir', async () => {
    const again = JSON.parse((await runInProcess(['restore', snapshot.id, '--keys', '--json'], env({ RS_INCLUDE_NAMESPACES: 'team-1' }))).stdout) as KeyRestoreReport;
    expect(again.totals).toMatchObject({ create: 0, update: 0, unchanged: team1.length });
    const skip = JSON.parse((await runInProcess(['restore', snapshot.id, '--keys', '--skip-existing', '--json'], env({ RS_INCLUDE_NAMESPACES: 'team-1' }))).stdout) as KeyRestoreReport;
    expect(skip.totals.skippedBy.exists).toBe(team1.length);
    const plain = await runInProcess(['restore', snapshot.id, '--dry-run'], env());
    expect(plain.code).toBe(2);
    expect(plain.stderr).toMatch(/--keys/);
    const both = await runInProcess(['restore', snapshot.id, '--keys', '--data-dir', join(work, 'x')], env());
    expect(both.code).toBe(2);
  });
});
