import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { isDeltaManifest, type Manifest } from '../../../src/archive/manifest.js';
import { BackupRepository } from '../../../src/store/backup-repository.js';
import { LocalStore } from '../../../src/store/local-store.js';
import { startRun, killStarted } from '../../helpers/background-run.js';
import { runCli } from '../../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../../helpers/etcd.js';
import { keyspace } from '../../helpers/keyspace.js';

let source: TestEtcd;
let target: TestEtcd;
let client: Etcd3;
let work: string;
beforeAll(async () => {
  [source, target] = await Promise.all([startEtcd(), startEtcd()]);
  client = new Etcd3({ hosts: source.endpoint });
  work = await mkdtemp(join(tmpdir(), 'rs-filter-chain-'));
});
afterAll(async () => {
  killStarted();
  client?.close();
  await Promise.all([source?.stop(), target?.stop()]);
  await rm(work, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const put = (k: string, v: string) => client.put(k).value(v).exec().then((r) => Number(r.header.revision));

// The operator's hourly filter:secrets chain, recorded by run: the watch records every key under the prefixes, Pods
// too. A point-in-time restore of it gave back the Secrets as they were at the target and, beside them, the last
// change of every Pod (written, or deleted from the running cluster), though the dump holds no Pod: a state of the
// cluster nobody took. It restores what the dump holds, at the target; the Pods of the cluster are left alone.
it('a point-in-time restore of a filter: dump chain restores the resources the dump holds, not the other changes recorded', async () => {
  const store = join(work, 'store');
  const env = { RS_ETCD_ENDPOINTS: source.endpoint, RS_BACKUP_DIR: store, RS_HTTP_PORT: '0', RS_BACKUP_STRATEGY: 'filter:secrets' };
  const repo = new BackupRepository(new LocalStore(store), 'default');
  await put('/registry/secrets/apps/sh.helm.release.v1.app.v1', 'release v1');
  await put('/registry/pods/apps/web', 'web v1');
  await put('/registry/pods/apps/old', 'old');
  const base = JSON.parse((await runCli(['backup', '--json'], env)).stdout) as Manifest;

  const run = startRun({ ...env, RS_DELTA_INTERVAL: '1s' });
  await run.until(/"msg":"watching etcd for changes"/);
  await put('/registry/secrets/apps/sh.helm.release.v1.app.v2', 'release v2');
  await put('/registry/pods/apps/web', 'web v2');
  await put('/registry/pods/apps/new', 'new');
  const last = Number((await client.delete().key('/registry/pods/apps/old').exec()).header.revision);
  for (const end = Date.now() + 30_000; !(await repo.list()).backups.some((m) => isDeltaManifest(m) && m.toRevision >= last); await sleep(50)) {
    if (Date.now() > end) throw new Error(`no segment reaches revision ${last}`);
  }
  run.child().kill('SIGTERM');
  expect((await run.done).code).toBe(0);

  // The cluster restored into has Pods of its own, which the Secrets' restore must not touch.
  const other = new Etcd3({ hosts: target.endpoint });
  await other.put('/registry/pods/apps/web').value('web of the target');
  await other.put('/registry/pods/apps/old').value('old of the target');
  other.close();
  // As an operator restores: the store and the etcd to restore into, not the backup job's strategy.
  const res = await runCli(['restore', 'latest', '--to', 'latest', '--json'], { RS_ETCD_ENDPOINTS: target.endpoint, RS_BACKUP_DIR: store });
  expect(res.code, res.stderr).toBe(0);
  const report = JSON.parse(res.stdout) as { point: { base: { id: string }; target: { revision: number } } };
  expect(report.point).toMatchObject({ base: { id: base.id }, target: { revision: last } });
  const restored = await keyspace(target);
  const text = (b64: string) => Buffer.from(b64, 'base64').toString();
  const values = Object.fromEntries([...restored].map(([k, v]) => [text(k), text(v.value)]));
  expect(values).toEqual({
    '/registry/secrets/apps/sh.helm.release.v1.app.v1': 'release v1',
    '/registry/secrets/apps/sh.helm.release.v1.app.v2': 'release v2',
    '/registry/pods/apps/web': 'web of the target',
    '/registry/pods/apps/old': 'old of the target',
  });
});
