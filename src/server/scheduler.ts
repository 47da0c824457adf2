import cron, { type ScheduledTask, type TaskContext } from 'node-cron';
import type { BackupObserver } from '../core/backup-observer.js';
import { AbortedError, describeError } from '../core/errors.js';
import { backupJobProgress, type JobContext, type JobQueue } from '../core/jobs.js';
import type { Logger } from '../log.js';
import { backupAndPrune, backupRunContext, checkpointBackupsAndPrune, isCheckpointRun } from '../ops/backup-run.js';
import type { OpContext } from '../ops/context.js';
import type { BackupRepository } from '../store/backup-repository.js';
import { skippedSlotBetween } from './dst-gap.js';
import type { ScheduleHealth } from './health-state.js';

/** What a scheduled backup needs: where it goes, the queue it waits in, and who hears how it went. */
export interface ScheduleDeps {
  repo: BackupRepository;
  jobs: JobQueue;
  health: ScheduleHealth;
  observer: BackupObserver;
  /** Told when a scheduled backup was cut off by SIGTERM/SIGINT: the run did not complete. */
  onInterrupted: () => void;
}

/**
 * Backups (then retention) on a cron schedule, as jobs of the queue the API's writing jobs share, so writes never
 * interleave; a slot whose previous backup is still queued or running is skipped. Not started until `start`.
 */
export function scheduleBackups(ctx: OpContext, schedule: string, deps: ScheduleDeps): ScheduledTask {
  const { log, signal } = ctx;
  const { jobs, health } = deps;
  // The slot of a day whose local time the start of daylight saving time skips (see dst-gap.ts), armed anew at every slot.
  const gap = dstGapSlot(schedule, () => task.getNextRun(), (at) => {
    log.info({ slot: at.toISOString() }, 'the local time of the scheduled slot does not exist today (daylight saving time starts): it runs now, as cron runs it');
    void once(at);
  });
  const once = async (at: Date) => {
    gap.arm();
    health.runDue(at);
    if (signal.aborted || jobs.pending((j) => j.kind === 'backup' && j.trigger === 'schedule').length > 0) {
      log.warn({ slot: at.toISOString() }, 'previous backup still running; skipping this slot');
      return;
    }
    const job = jobs.submit({ kind: 'backup', trigger: 'schedule', writes: true, run: (j) => scheduledBackup({ ...ctx, signal: j.signal }, deps, (p) => j.progress(p)) });
    await jobs.wait(job.id);
  };
  // A slot's timer that fires late (the process paused or starved, the clock stepped forward while it waited: a daily
  // slot waits a day) still runs its backup, once, unless a later slot has come meanwhile: node-cron's default
  // skipped any slot more than 1 s late, silently, leaving that day without a backup.
  const task = cron.createTask(schedule, (c: TaskContext) => once(c.date), { name: 'backup', logger: cronLogger(log), missedExecutionTolerance: Number.MAX_SAFE_INTEGER });
  const back = clockStepBack(log, () => {
    void (async () => {
      await task.stop();
      await task.start();
    })();
  });
  task.on('task:started', () => (gap.arm(), back.watch()));
  task.on('task:stopped', () => (gap.clear(), back.clear()));
  task.on('task:destroyed', () => (gap.clear(), back.clear()));
  // A slot passed by a later one (the process was paused over both) still came due; the later one runs.
  const missed = missedSlots(log);
  task.on('execution:missed', (c) => {
    missed.add(c.date);
    health.runDue(c.date);
  });
  return task;
}

/**
 * The slots passed over at once, said in one line: node-cron reports each slot a late timer passed over (the clock
 * stepped forward an hour: 12 of a 5-minute schedule), all in the same turn of the event loop, so they are gathered
 * until it ends and told as how many, the first and the last.
 */
function missedSlots(log: Logger): { add(slot: Date): void } {
  let slots: Date[] = [];
  const flush = () => {
    const [first, last] = [slots[0]!, slots.at(-1)!];
    log.warn(
      { missed: slots.length, first: first.toISOString(), last: last.toISOString() },
      `scheduled slot${slots.length === 1 ? '' : 's'} missed: the process did not run at ${slots.length === 1 ? 'its' : 'their'} time (paused, or the clock stepped forward); the latest slot due runs instead`,
    );
    slots = [];
  };
  return {
    add: (slot) => {
      if (slots.push(slot) === 1) setImmediate(flush);
    },
  };
}

/** How far the wall clock must go back for the schedule to be computed again. */
const STEP_BACK_MS = 2_000;

/**
 * node-cron waits for the slot it computed on the wall clock: after the clock was stepped back (NTP correcting a
 * clock that ran ahead, `date -s`), a schedule of every few minutes took no backup for as long as the clock went back,
 * with /healthz at 200 (no slot came due). A step back is noticed within a second (the wall clock against the
 * monotonic one) and the schedule computed again from the new time, as cron goes on by the clock it reads.
 */
function clockStepBack(log: Logger, recompute: () => void): { watch(): void; clear(): void } {
  let timer: NodeJS.Timeout | undefined;
  const drift = () => Date.now() - (performance.timeOrigin + performance.now());
  const clear = () => clearInterval(timer);
  const watch = () => {
    clear();
    let last = drift();
    timer = setInterval(() => {
      const now = drift();
      if (now < last - STEP_BACK_MS) {
        log.warn({ steppedBackMs: Math.round(last - now), clock: new Date().toISOString() }, 'the clock went back: the schedule is computed again from the new time');
        recompute();
      }
      last = now;
    }, 1_000);
    timer.unref();
  };
  return { watch, clear };
}

/** A timer for the slot skipped by the next start of daylight saving time before the schedule's next run, if any. */
function dstGapSlot(schedule: string, nextRun: () => Date | null, run: (at: Date) => void): { arm(): void; clear(): void } {
  let timer: NodeJS.Timeout | undefined;
  const clear = () => clearTimeout(timer);
  const arm = () => {
    clear();
    const next = nextRun();
    const at = next ? skippedSlotBetween(schedule, new Date(), next) : undefined;
    if (at === undefined) return;
    // A timer waits at most ~24.8 days: a later slot is looked for again then.
    const wait = at.getTime() - Date.now();
    timer = setTimeout(() => (Date.now() >= at.getTime() ? run(at) : arm()), Math.min(Math.max(0, wait), 2 ** 31 - 1));
    timer.unref();
  };
  return { arm, clear };
}

async function scheduledBackup(ctx: OpContext, deps: ScheduleDeps, progress: JobContext['progress']) {
  // A checkpoint run is one backup per container, each with its own id.
  const run = isCheckpointRun(ctx) ? { id: undefined, ctx } : await backupRunContext(ctx, deps.repo);
  const onProgress = (p: { bytes: number; totalBytes?: number; keys?: number }) => progress(backupJobProgress(p));
  try {
    const inUse = () => deps.jobs.backupsInUse();
    if (run.id === undefined) return await checkpointBackupsAndPrune(run.ctx, deps.repo, { observer: deps.observer, onProgress, inUse });
    const manifest = await backupAndPrune(run.ctx, deps.repo, { ...run.start, observer: deps.observer, onProgress, inUse });
    // Progress is sampled once a second: the finished job says how far it went, as an API backup's does.
    progress({ bytes: manifest.rawSizeBytes, ...(manifest.keys !== undefined && { keys: manifest.keys }) });
    return manifest;
  } catch (err) {
    if (err instanceof AbortedError) deps.onInterrupted();
    // Already logged as "backup failed" or "retention failed".
    run.ctx.log.debug({ err: describeError(err) }, 'scheduled backup failed');
    throw err;
  }
}

/** node-cron's own messages (missed or overlapping slots) as pino lines rather than console output. */
function cronLogger(log: Logger): NonNullable<Parameters<typeof cron.createTask>[2]>['logger'] {
  const l = log.child({ component: 'scheduler' });
  const text = (m: string | Error) => (m instanceof Error ? m.message : m);
  return {
    info: (m) => l.debug({ detail: m }, 'scheduler message'),
    warn: (m) => l.warn({ detail: m }, 'scheduler warning'),
    error: (m) => l.error({ detail: text(m) }, 'scheduler error'),
    debug: (m) => l.debug({ detail: text(m) }, 'scheduler message'),
  };
}
