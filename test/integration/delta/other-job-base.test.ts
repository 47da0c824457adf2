import { expect, it } from 'vitest';
import { isDeltaManifest, type Manifest } from '../../../src/archive/manifest.js';
import { startRun } from '../../helpers/background-run.js';
import { runCli } from '../../helpers/cli.js';
import { segmentCovering } from '../../helpers/delta-chain.js';
import { deltaFixture } from '../../helpers/delta-fixture.js';

const f = deltaFixture('rs-delta-other-base-');

// The operator's setup: `run` without RS_SCHEDULE records changes, and a nightly CronJob of the same series stores the
// full backups. The chain used to grow from the process's start until a restart (a point-in-time restore replayed
// every change since); now it restarts from the CronJob's backup once that lands, as at a full backup of run's own.
it('run without RS_SCHEDULE starts a new chain at a full backup of its series that another job stores', async () => {
  const { env, repo } = f.store('store');
  await f.put('/registry/configmaps/apps/a', 'a1');
  const run = startRun({ ...env, RS_DELTA_INTERVAL: '1s' });
  await run.until(/"msg":"watching etcd for changes"/);
  const first = await segmentCovering(repo, await f.put('/registry/configmaps/apps/a', 'a2'));

  // The CronJob: a snapshot, of run's own series; the chain run records goes on meanwhile.
  const cron = await runCli(['backup', '--json'], env);
  expect(cron.code, cron.stderr).toBe(0);
  const nightly = JSON.parse(cron.stdout) as Manifest;
  await f.put('/registry/configmaps/apps/a', 'a3');
  await run.until(/another job stored a full backup of the chain's series/);
  expect(run.log()).toContain(`"newBase":"${nightly.id}"`);

  const later = await f.put('/registry/configmaps/apps/a', 'a4');
  const seg = await segmentCovering(repo, later);
  expect(seg.base).toBe(nightly.id);
  // The new chain starts right after the nightly backup's revision: whole, from its base.
  const chain = await runCli(['verify', nightly.id, '--chain', '--json'], env);
  expect(chain.code, chain.stdout + chain.stderr).toBe(0);
  const segments = (await repo.list()).backups.filter((m) => isDeltaManifest(m) && m.base === nightly.id);
  expect(Math.min(...segments.map((m) => (isDeltaManifest(m) ? m.fromRevision : Infinity)))).toBe(nightly.etcd!.revision + 1);
  // The old chain reaches the nightly backup's revision (no revision missing between the two).
  const old = (await repo.list()).backups.filter((m) => isDeltaManifest(m) && m.base === first.base);
  expect(Math.max(...old.map((m) => (isDeltaManifest(m) ? m.toRevision : 0)))).toBeGreaterThanOrEqual(nightly.etcd!.revision);
  // A point-in-time restore to the newest change replays from the nightly backup, not from run's start.
  const restore = await runCli(['restore', 'latest', '--keys', '--to', 'latest', '--dry-run', '--json'], env);
  expect(restore.code, restore.stderr).toBe(0);
  expect(JSON.parse(restore.stdout)).toMatchObject({ point: { base: { id: nightly.id }, target: { revision: later } } });

  run.child().kill('SIGTERM');
  expect((await run.done).code).toBe(0);
});

// Found by an operator pass: the CronJob's backup landed (its upload took long, or run looked only later) after etcd
// had compacted the history past its revision (kube-apiserver compacts every 5 minutes). run ended its chain there
// and started one from that backup, whose watch etcd refused as compacted: "the chain of changes cannot go on without
// a gap", and a full backup at once, although the chain in progress held every change after that revision already.
// Now the chain goes on from its own base, and no full backup is taken.
it("run goes on with its chain, taking no full backup, when etcd compacted past another job's backup before run saw it", async () => {
  const { env, repo } = f.store('compacted-other');
  const run = startRun({ ...env, RS_DELTA_INTERVAL: '1s' });
  await run.until(/"msg":"watching etcd for changes"/);
  const first = await segmentCovering(repo, await f.put('/registry/configmaps/apps/b', 'b1'));

  const cron = await runCli(['backup', '--json'], env);
  expect(cron.code, cron.stderr).toBe(0);
  const nightly = JSON.parse(cron.stdout) as Manifest;
  // Changes after it, and their history compacted, before run looks in the store (every 10 intervals).
  let compactAt = 0;
  for (let i = 0; i < 3; i++) compactAt = await f.put(`/registry/configmaps/apps/after-${i}`, 'x');
  await f.etcd.ctl(['compaction', String(compactAt)]);
  await run.until(/another job stored a full backup of the chain's series/);

  const later = await f.put('/registry/configmaps/apps/b', 'b2');
  const seg = await segmentCovering(repo, later);
  expect(seg.base, run.log()).toBe(first.base);
  // run's own first full backup (the store was empty) came before; none after the CronJob's.
  const since = run.log().slice(run.log().indexOf("another job stored a full backup of the chain's series"));
  expect(since).toContain('the chain goes on from its own base, no revision missing');
  expect(since).not.toMatch(/taking a full backup|cannot go on without a gap/);
  const full = (await repo.list()).backups.filter((m) => !isDeltaManifest(m)).map((m) => m.id).sort();
  expect(full).toEqual([first.base, nightly.id].sort());
  // The chain in progress is whole from its base through the newest change.
  const chain = await runCli(['verify', first.base, '--chain', '--json'], env);
  expect(chain.code, chain.stdout + chain.stderr).toBe(0);

  run.child().kill('SIGTERM');
  expect((await run.done).code).toBe(0);
});

// The hourly `filter:secrets,configmaps` CronJob beside the nightly snapshot: its dumps are full backups too, of
// another series. A chain recorded onto one would bring back those resources only, and --data-dir cannot restore it;
// taken for the newest backup found, it also hid the nightly snapshot stored before it, and the chain was not cut there.
it('run without RS_SCHEDULE ends its chain at the nightly snapshot, not at a newer filter dump of another job', async () => {
  const { env, repo } = f.store('other-series');
  await f.put('/registry/secrets/apps/s', 's1');
  // Every 10 intervals the store is looked at: every 10 s here.
  const run = startRun({ ...env, RS_DELTA_INTERVAL: '1s' });
  await run.until(/"msg":"watching etcd for changes"/);
  await f.put('/registry/secrets/apps/s', 's2');
  const nightly = await f.backup(env, 'snapshot');
  await f.put('/registry/secrets/apps/s', 's3');
  const filter = await f.backup(env, 'filter:secrets,configmaps');
  expect(filter.etcd!.revision).toBeGreaterThan(nightly.etcd!.revision);
  // Seen in one look or in two, the snapshot ends the chain; the filter dump, the newest and highest, does not.
  await run.until(new RegExp(`"newBase":"${nightly.id}"`));
  await new Promise((r) => setTimeout(r, 11_000));
  run.child().kill('SIGTERM');
  expect((await run.done).code).toBe(0);
  expect(run.log()).not.toContain(`"newBase":"${filter.id}"`);
  expect((await repo.list()).backups.filter((m) => isDeltaManifest(m) && m.base === filter.id)).toEqual([]);
}, 90_000);
