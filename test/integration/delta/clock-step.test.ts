import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { isDeltaManifest } from '../../../src/archive/manifest.js';
import { BackupRepository } from '../../../src/store/backup-repository.js';
import { LocalStore } from '../../../src/store/local-store.js';
import { startRun, killStarted } from '../../helpers/background-run.js';
import { startEtcd, type TestEtcd } from '../../helpers/etcd.js';
import { whileRunning } from '../../helpers/faults.js';

const PRELOAD = new URL('../../helpers/preload/clock-step.mjs', import.meta.url).pathname;

/**
 * The machine's clock stepped back while `run` records changes (NTP correcting a clock that ran ahead, an operator's
 * `date -s`): test/helpers/preload/clock-step.mjs steps what Date reads inside run. Found by an operator pass: the
 * intervals of continuous backups were counted on the wall clock, so after a step back of an hour no segment was
 * stored for an hour, the changes piling up in memory, while /healthz and the lag metric, reading the same clock, saw
 * nothing wrong.
 */
let etcd: TestEtcd;
let work: string;
beforeAll(async () => {
  [etcd, work] = await Promise.all([startEtcd(), mkdtemp(join(tmpdir(), 'rs-clock-step-'))]);
});
afterAll(async () => {
  killStarted();
  await etcd?.stop();
  await rm(work, { recursive: true, force: true });
});

async function revisionOf(key: string): Promise<number> {
  await etcd.ctl(['put', key, 'v']);
  return Number(JSON.parse(await etcd.ctl(['get', key, '-w', 'json'])).header.revision);
}

async function covered(repo: BackupRepository, revision: number, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if ((await repo.list()).backups.some((m) => isDeltaManifest(m) && m.toRevision >= revision)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

it('a clock stepped back an hour: segments are still stored every interval, their ids after the ones before', async () => {
  const store = join(work, 'store');
  const step = join(work, 'step');
  const repo = new BackupRepository(new LocalStore(store), 'default');
  const run = startRun({ RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: store, RS_HTTP_PORT: '0', RS_DELTA_INTERVAL: '1s', NODE_OPTIONS: `--import ${PRELOAD}`, RESHIFTER_TEST_CLOCK_STEP: step });
  await run.until(/"msg":"watching etcd for changes"/);
  expect(await covered(repo, await revisionOf('/registry/configmaps/ns/before'), 15_000)).toBe(true);

  await writeFile(step, String(-3_600_000));
  // In effect in run (the preload's poll), before the change the segments after the step must hold: a guessed 300 ms
  // was once too short on a loaded machine, and the segment of that change then bore the clock before the step.
  await whileRunning(run.done, () => existsSync(`${step}.applied`), 'the clock step in run', 15_000);
  expect(await covered(repo, await revisionOf('/registry/configmaps/ns/after'), 15_000), 'no segment stored after the step back').toBe(true);
  run.child().kill('SIGTERM');
  expect((await run.done).code).toBe(0);
  // Ids keep the order of the chain (list, latest and retention go by id), though the clock went back.
  const segments = (await repo.list()).backups.filter(isDeltaManifest).sort((a, b) => (a.id < b.id ? -1 : 1));
  expect(segments.map((m) => m.toRevision)).toEqual(segments.map((m) => m.toRevision).sort((a, b) => a - b));
  expect(segments.at(-1)!.createdAt < segments[0]!.createdAt).toBe(true);
}, 60_000);
