/** What the scheduler knows about its backups, for deciding whether it is healthy. */
export interface HealthInput {
  now: Date;
  /** When the scheduler started. */
  startedAt: Date;
  /** When the last backup completed successfully (in this process). */
  lastSuccessAt?: Date;
  /**
   * When and why the last backup failed (`retention`: the backup was stored, the retention after it failed; `start`:
   * no backup yet, but the store refused the listing at start, as it will refuse the backups).
   */
  lastFailure?: { at: Date; reason: string; retention?: boolean; start?: boolean };
  /**
   * Scheduled run times that have come due, oldest first, whether a backup started at them or was skipped because
   * the previous one was still running (the scheduler records them as they fire).
   */
  dueRuns: readonly Date[];
  /** The schedule's next run, for the report. */
  nextRun?: Date;
}

export interface HealthReport {
  healthy: boolean;
  /** `ok`, `failing` (the last backup failed) or `stale` (no success within two scheduled runs). */
  status: 'ok' | 'failing' | 'stale';
  /** Why, in one sentence. */
  reason: string;
  lastSuccessAt?: string;
  lastFailureAt?: string;
  nextRunAt?: string;
  /** Continuous backups (RS_DELTA_INTERVAL), when on. */
  delta?: { watching: boolean; downSince?: string; lastRevision?: number; firstFullBackupSince?: string };
}

/** How many scheduled runs may come due without a success before the scheduler counts as stale. */
export const STALE_AFTER_RUNS = 2;

/**
 * Decides `/healthz`: healthy while the last backup succeeded or none is due yet; unhealthy when the last backup
 * failed, or when two scheduled runs have come due since the last success (or since start) without one succeeding
 * (a backup that hangs, or slots skipped behind it). Counting due runs instead of elapsed time makes irregular
 * schedules (weekdays only, the first of the month) work without guessing their period.
 */
export function evaluateHealth(input: HealthInput): HealthReport {
  const facts = {
    ...(input.lastSuccessAt && { lastSuccessAt: input.lastSuccessAt.toISOString() }),
    ...(input.lastFailure && { lastFailureAt: input.lastFailure.at.toISOString() }),
    ...(input.nextRun && { nextRunAt: input.nextRun.toISOString() }),
  };
  const { lastSuccessAt, lastFailure } = input;
  if (lastFailure && (!lastSuccessAt || lastFailure.at.getTime() >= lastSuccessAt.getTime())) {
    const what = lastFailure.retention
      ? 'the retention after the last backup failed'
      : lastFailure.start
        ? 'the store refused to list the backups at start (backups will fail alike)'
        : 'the last backup failed';
    return { healthy: false, status: 'failing', reason: `${what}: ${lastFailure.reason}`, ...facts };
  }
  const since = lastSuccessAt ?? input.startedAt;
  const missed = input.dueRuns.filter((t) => t.getTime() > since.getTime()).length;
  if (missed >= STALE_AFTER_RUNS) {
    const what = lastSuccessAt ? `since the last success at ${lastSuccessAt.toISOString()}` : `since the start at ${since.toISOString()}`;
    return { healthy: false, status: 'stale', reason: `no backup succeeded in the ${missed} scheduled runs ${what}`, ...facts };
  }
  const reason = lastSuccessAt
    ? `the last backup succeeded at ${lastSuccessAt.toISOString()}`
    : missed === 0
      ? 'no backup is due yet'
      : 'the first backup has not completed yet';
  return { healthy: true, status: 'ok', reason, ...facts };
}

/** Continuous backups count as down once no watch has received changes for more than this many intervals. */
export const DELTA_DOWN_AFTER_INTERVALS = 3;

/** Changes received this long ago and still not stored (the store failing) make continuous backups unhealthy. */
export const DELTA_UNSTORED_AFTER_MS = 5 * 60_000;

/** What deltaHealth reads of the recorder (ops/delta-recorder.ts DeltaRecorderState). */
export interface DeltaHealthInput {
  downSince?: number;
  lastRevision?: number;
  oldestPendingAt?: number;
  /** The full backup the run's first watch waits for has been running since then. */
  firstBaseSince?: number;
  /** Why the watch is down, when known (etcd has lost its quorum). */
  downBecause?: string;
}

/**
 * The report with continuous backups' part: healthy while the full backup the first watch waits for runs (saying
 * so), unhealthy (`failing`) when the watch of changes has been down for more than 3 intervals (etcd unreachable, a
 * full backup it waits for after a break failing), or when changes received more than
 * max(3 intervals, 5 minutes) ago are still not stored (the store failing; a full backup holds segments back for its
 * duration, so a shorter bound would fail every long one): either way the recovery point is growing.
 */
export function deltaHealth(report: HealthReport, state: DeltaHealthInput, intervalMs: number, now: number = Date.now()): HealthReport {
  const delta = {
    watching: state.downSince === undefined,
    ...(state.downSince !== undefined && { downSince: new Date(state.downSince).toISOString() }),
    ...(state.lastRevision !== undefined && { lastRevision: state.lastRevision }),
    ...(state.oldestPendingAt !== undefined && { oldestUnstoredAt: new Date(state.oldestPendingAt).toISOString() }),
    ...(state.firstBaseSince !== undefined && { firstFullBackupSince: new Date(state.firstBaseSince).toISOString() }),
  };
  if (!report.healthy) return { ...report, delta };
  if (state.firstBaseSince !== undefined) {
    // Nothing is wrong while it runs: a large database takes longer than 3 intervals, and a failure shows as the
    // backup's own (report.healthy is false then).
    const reason = `first full backup in progress since ${delta.firstFullBackupSince!}: the watch of changes for continuous backups starts once it is stored`;
    return { ...report, reason, delta };
  }
  if (state.downSince !== undefined && now - state.downSince > DELTA_DOWN_AFTER_INTERVALS * intervalMs) {
    const reason = `the watch of changes for continuous backups has been down since ${delta.downSince!} (more than ${DELTA_DOWN_AFTER_INTERVALS} intervals of ${intervalMs / 1000}s)${state.downBecause !== undefined ? `: ${state.downBecause}` : ''}`;
    return { ...report, healthy: false, status: 'failing', reason, delta };
  }
  const unstoredFor = Math.max(DELTA_DOWN_AFTER_INTERVALS * intervalMs, DELTA_UNSTORED_AFTER_MS);
  if (state.oldestPendingAt !== undefined && now - state.oldestPendingAt > unstoredFor) {
    const reason = `changes received since ${delta.oldestUnstoredAt!} are not in the store yet (more than ${unstoredFor / 60_000} minutes): storing delta segments is failing`;
    return { ...report, healthy: false, status: 'failing', reason, delta };
  }
  return { ...report, delta };
}
