import { expect, it } from 'vitest';
import type { Manifest } from '../../../src/archive/manifest.js';
import { startRun } from '../../helpers/background-run.js';
import { runCli } from '../../helpers/cli.js';
import { segmentCovering } from '../../helpers/delta-chain.js';
import { deltaFixture } from '../../helpers/delta-fixture.js';

const f = deltaFixture('rs-delta-other-job-');

// The operator's mixed cluster folder: `run` records changes onto a filter dump's chain, and an hourly CronJob of the
// same strategy with RS_RETENTION_KEEP_LAST=1 takes a newer dump into that series. run goes on with its own chain until
// it next looks in the store for other jobs' full backups (every 10 intervals: 50 s here, after this test), so
// retention must keep that chain's base: deleted, every segment run writes after it meanwhile has no base (restorable
// by nothing, removed as an orphan an hour later). other-job-base.test.ts shows the chain moving once run looks.
it('retention of another job, and delete without --force, keep the base of the chain run goes on recording, though a newer backup is in its series', async () => {
  const strategy = { RS_BACKUP_STRATEGY: 'filter:secrets,configmaps' };
  const { env, repo } = f.store('store', strategy);
  await f.put('/registry/secrets/apps/sh.helm.release.v1.app.v1', 'v1');
  await f.put('/registry/configmaps/apps/cm', 'c1');
  const base = JSON.parse((await runCli(['backup', '--json'], env)).stdout) as Manifest;

  const run = startRun({ ...env, RS_DELTA_INTERVAL: '5s' });
  await run.until(/"msg":"watching etcd for changes"/);
  await segmentCovering(repo, await f.put('/registry/secrets/apps/sh.helm.release.v1.app.v2', 'v2'));

  // The CronJob: a newer dump of the same series, then retention of that series with KEEP_LAST=1.
  const cron = await runCli(['backup', '--json'], { ...env, RS_RETENTION_KEEP_LAST: '1' });
  expect(cron.code, cron.stderr).toBe(0);
  const newer = JSON.parse(cron.stdout) as Manifest;
  const listed = (await repo.list()).backups.map((m) => m.id);
  expect(listed).toContain(base.id);
  expect(listed).toContain(newer.id);

  // run still records onto the first chain (it has not looked in the store yet), whose base is there to restore it.
  const later = await f.put('/registry/secrets/apps/sh.helm.release.v1.app.v3', 'v3');
  const seg = await segmentCovering(repo, later);
  expect(seg.base).toBe(base.id);
  const dry = JSON.parse((await runCli(['prune', '--dry-run', '--json'], { ...env, RS_RETENTION_KEEP_LAST: '1' })).stdout) as {
    decisions: Array<{ id: string; keep: boolean; reasons: string[] }>;
  };
  expect(dry.decisions.find((d) => d.id === base.id)).toMatchObject({ keep: true, reasons: ['protected'] });
  expect(dry.decisions.find((d) => d.id === seg.id)).toMatchObject({ keep: true, reasons: [`chain of ${base.id}`] });
  // A delete by hand of that base is refused as well, as the newest backup of a series is: --force takes it.
  const refused = await runCli(['delete', base.id], env);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toContain(`backup ${base.id} heads the chain of continuous backups written last in series "filter:configmaps,secrets": run may still be recording onto it`);
  expect((await repo.list()).backups.map((m) => m.id)).toContain(base.id);
  expect((await runCli(['delete', base.id, '--dry-run', '--force'], env)).code).toBe(0);
  const restore = await runCli(['restore', 'latest', '--to', 'latest', '--dry-run', '--json'], env);
  expect(restore.code, restore.stderr).toBe(0);
  expect(JSON.parse(restore.stdout)).toMatchObject({ point: { base: { id: base.id }, target: { revision: later } } });

  run.child().kill('SIGTERM');
  expect((await run.done).code).toBe(0);
});
