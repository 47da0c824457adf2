import { expect, it } from 'vitest';
import { startRun } from '../../helpers/background-run.js';
import { runCli } from '../../helpers/cli.js';
import { segmentCovering } from '../../helpers/delta-chain.js';
import { deltaFixture } from '../../helpers/delta-fixture.js';

const f = deltaFixture('rs-delta-own-series-');

// The operator's mixed cluster folder: a nightly snapshot, an hourly `filter:secrets,configmaps` CronJob, and `run`
// with RS_DELTA_INTERVAL and no RS_BACKUP_STRATEGY (it takes snapshots). Before: run recorded its chain onto the
// newest full backup of any kind, the hourly filter dump: the chain could bring back Secrets and ConfigMaps only, and
// `restore --data-dir --to latest` was refused.
it('run without RS_BACKUP_STRATEGY records onto the newest snapshot, not the newer filter dump of another job', async () => {
  const { env, repo } = f.store('mixed');
  await f.put('/registry/pods/apps/web', 'w1');
  await f.put('/registry/secrets/apps/s', 's1');
  const snapshot = await f.backup(env, 'snapshot');
  await f.put('/registry/secrets/apps/s', 's2');
  const filter = await f.backup(env, 'filter:secrets,configmaps');
  expect(filter.id > snapshot.id).toBe(true);

  const run = startRun({ ...env, RS_DELTA_INTERVAL: '1s' });
  await run.until(/"msg":"watching etcd for changes"/);
  const later = await f.put('/registry/pods/apps/web', 'w2');
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
  const { env, repo } = f.store('filter-only');
  const filter = await f.backup(env, 'filter:secrets,configmaps');

  const run = startRun({ ...env, RS_DELTA_INTERVAL: '1s' });
  await run.until(/"msg":"watching etcd for changes"/);
  const taking = run.log().split('\n').filter((l) => l.includes('"msg":"taking a full backup for continuous backups"')).map((l) => JSON.parse(l) as { reason: string });
  expect(taking).toHaveLength(1);
  expect(taking[0]!.reason).toContain(`no full backup of series "snapshot" (the strategy of run: RS_BACKUP_STRATEGY is unset) of cluster "default"`);
  expect(taking[0]!.reason).toContain(`(the newest full backup, ${filter.id}, is of series "filter:configmaps,secrets": a chain is recorded onto one of run's own series only)`);
  const later = await f.put('/registry/pods/apps/web', 'w3');
  const seg = await segmentCovering(repo, later);
  const base = (await repo.list()).backups.find((m) => m.id === seg.base);
  expect(base?.strategy).toBe('snapshot');
  run.child().kill('SIGTERM');
  expect((await run.done).code).toBe(0);
}, 90_000);
