import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import type { BackupDiff } from '../../src/ops/diff.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { runInProcess } from '../helpers/in-process.js';

let etcd: TestEtcd;
let store: string;
let env: Record<string, string>;
beforeAll(async () => {
  etcd = await startEtcd();
  store = await mkdtemp(join(tmpdir(), 'rs-diff-same-filter-'));
  env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: store };
  await etcd.ctl(['put', '/registry/secrets/apps/sh.helm.release.v1.app.v1', 'r1']);
  await etcd.ctl(['put', '/registry/configmaps/apps/cm', 'c1']);
  await etcd.ctl(['put', '/registry/pods/apps/p', 'p1']);
});
afterAll(async () => {
  await etcd?.stop();
  await rm(store, { recursive: true, force: true });
});

const backup = async (strategy: string) => JSON.parse((await runInProcess(['backup', '--strategy', strategy, '--json'], env)).stdout) as Manifest;

// The hourly filter:secrets,configmaps dumps an hour apart hold the same resources: their diff compares every key of
// both and says nothing of keys held apart. Before, it noted that they "hold different keys", as against a snapshot.
it('two dumps of one filter series are compared whole, with no note that they hold different keys', async () => {
  const first = await backup('filter:secrets,configmaps');
  await etcd.ctl(['put', '/registry/secrets/apps/sh.helm.release.v1.app.v1', 'r2']);
  await etcd.ctl(['put', '/registry/pods/apps/p', 'p2']);
  const second = await backup('filter:configmaps,secrets');
  const text = await runInProcess(['diff', first.id, second.id], env);
  expect(text.code, text.stderr).toBe(0);
  expect(text.stdout).toContain(`0 added, 0 removed, 1 changed, 1 unchanged from ${first.id} to ${second.id}`);
  expect(text.stdout).not.toContain('note:');
  const json = JSON.parse((await runInProcess(['diff', first.id, second.id, '--json'], env)).stdout) as BackupDiff;
  expect(json.filtered).toBeUndefined();
  expect(json.summary.outside).toBe(0);

  // Against a dump of other filters, and against a snapshot, the note stays: each holds keys the other cannot.
  const other = await backup('filter:secrets');
  expect((await runInProcess(['diff', first.id, other.id], env)).stdout).toContain(`hold different keys (each holds only the resources and namespaces its filters selected)`);
  const snap = await backup('snapshot');
  expect((await runInProcess(['diff', snap.id, second.id], env)).stdout).toContain(`hold different keys (${second.id} holds only the resources and namespaces its filters selected)`);
});
