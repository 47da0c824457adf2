import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Manifest } from '../../../src/archive/manifest.js';
import { BackupRepository } from '../../../src/store/backup-repository.js';
import { LocalStore } from '../../../src/store/local-store.js';
import { startRun, killStarted } from '../../helpers/background-run.js';
import { runCli } from '../../helpers/cli.js';
import { segmentCovering } from '../../helpers/delta-chain.js';
import { startEtcd, type TestEtcd } from '../../helpers/etcd.js';

let etcd: TestEtcd;
let client: Etcd3;
let work: string;
beforeAll(async () => {
  etcd = await startEtcd();
  client = new Etcd3({ hosts: etcd.endpoint });
  work = await mkdtemp(join(tmpdir(), 'rs-delta-own-series-'));
});
afterAll(async () => {
  killStarted();
  client?.close();
  await etcd?.stop();
  await rm(work, { recursive: true, force: true });
});

const put = (k: string, v: string) => client.put(k).value(v).exec().then((r) => Number(r.header.revision));

async function backup(env: Record<string, string>, strategy: string): Promise<Manifest> {
  const res = await runCli(['backup', '--json', '--strategy', strategy], env);
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(res.stdout.trim().split('\n').at(-1)!) as Manifest;
}

// The operator's mixed cluster folder: a nightly snapshot, an hourly `filter:secrets,configmaps` CronJob, and `run`
// with RS_DELTA_INTERVAL and no RS_BACKUP_STRATEGY (it takes snapshots). Before: run recorded its chain onto the
// newest full backup of any kind, the hourly filter dump: the chain could bring back Secrets and ConfigMaps only, and
// `restore --data-dir --to latest` was refused.
it('run without RS_BACKUP_STRATEGY records onto the newest snapshot, not the newer filter dump of another job', async () => {
  const store = join(work, 'mixed');
  const env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: store, RS_HTTP_PORT: '0' };
  const repo = new BackupRepository(new LocalStore(store), 'default');
  await put('/registry/pods/apps/web', 'w1');
  await put('/registry/secrets/apps/s', 's1');
  const snapshot = await backup(env, 'snapshot');
  await put('/registry/secrets/apps/s', 's2');
  const filter = await backup(env, 'filter:secrets,configmaps');
  expect(filter.id > snapshot.id).toBe(true);

  const run = startRun({ ...env, RS_DELTA_INTERVAL: '1s' });
  await run.until(/"msg":"watching etcd for changes"/);
  const later = await put('/registry/pods/apps/web', 'w2');
  const seg = await segmentCovering(repo, later);
  expect(seg.base).toBe(snapshot.id);
  expect(seg.fromRevision).toBe(snapshot.etcd!.revision + 1);
  run.child().kill('SIGTERM');
  expect((await run.done).code).toBe(0);

  const restore = await runCli(['restore', 'latest', '--to', 'latest', '--keys', '--dry-run', '--json'], env);
  expect(restore.code, restore.stderr).toBe(0);
  expect(JSON.parse(restore.stdout)).toMatchObject({ point: { base: { id: snapshot.id }, target: { revision: later } } });
}, 90_000);

it('run without RS_BACKUP_STRATEGY takes a snapshot first when the store holds only filter dumps, and says why', async () => {
  const store = join(work, 'filter-only');
  const env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: store, RS_HTTP_PORT: '0' };
  const repo = new BackupRepository(new LocalStore(store), 'default');
  const filter = await backup(env, 'filter:secrets,configmaps');

  const run = startRun({ ...env, RS_DELTA_INTERVAL: '1s' });
  await run.until(/"msg":"watching etcd for changes"/);
  const taking = run.log().split('\n').filter((l) => l.includes('"msg":"taking a full backup for continuous backups"')).map((l) => JSON.parse(l) as { reason: string });
  expect(taking).toHaveLength(1);
  expect(taking[0]!.reason).toContain(`no full backup of series "snapshot" (the strategy of run: RS_BACKUP_STRATEGY is unset) of cluster "default"`);
  expect(taking[0]!.reason).toContain(`(the newest full backup, ${filter.id}, is of series "filter:configmaps,secrets": a chain is recorded onto one of run's own series only)`);
  const later = await put('/registry/pods/apps/web', 'w3');
  const seg = await segmentCovering(repo, later);
  const base = (await repo.list()).backups.find((m) => m.id === seg.base);
  expect(base?.strategy).toBe('snapshot');
  run.child().kill('SIGTERM');
  expect((await run.done).code).toBe(0);
}, 90_000);
