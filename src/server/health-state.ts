import type { BackupObserver } from '../core/backup-observer.js';
import { evaluateHealth, type HealthReport } from '../core/health.js';

/** Due runs older than these are never needed to decide health. */
const KEEP_DUE_RUNS = 16;

/** What `run` remembers for /healthz: fed by the scheduler (due runs) and, as an observer, by each backup. */
export class ScheduleHealth {
  readonly observer: BackupObserver;
  private lastSuccessAt: Date | undefined;
  private lastFailure: { at: Date; reason: string; retention?: boolean; start?: boolean } | undefined;
  private readonly dueRuns: Date[] = [];

  constructor(private readonly startedAt: Date = new Date()) {
    this.observer = {
      backupSucceeded: () => {
        this.lastSuccessAt = new Date();
      },
      backupFailed: (f) => {
        this.lastFailure = { at: new Date(), reason: f.reason };
      },
      // Old backups pile up until the store is full: as much a failed run as a failed backup.
      retentionFailed: (reason) => {
        this.lastFailure = { at: new Date(), reason, retention: true };
      },
    };
  }

  /**
   * The store refused the listing at start (credentials, permissions): unhealthy now rather than at the first
   * scheduled backup, hours later; the first backup that succeeds makes it healthy.
   */
  refusedAtStart(reason: string): void {
    this.lastFailure = { at: new Date(), reason, start: true };
  }

  /** A scheduled run came due (whether a backup started at it or it was skipped). */
  runDue(at: Date): void {
    this.dueRuns.push(at);
    if (this.dueRuns.length > KEEP_DUE_RUNS) this.dueRuns.shift();
  }

  report(nextRun: Date | undefined, now: Date = new Date()): HealthReport {
    return evaluateHealth({
      now,
      startedAt: this.startedAt,
      dueRuns: this.dueRuns,
      ...(this.lastSuccessAt && { lastSuccessAt: this.lastSuccessAt }),
      ...(this.lastFailure && { lastFailure: this.lastFailure }),
      ...(nextRun && { nextRun }),
    });
  }
}
