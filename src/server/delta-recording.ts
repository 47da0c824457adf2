import type { Manifest } from '../archive/manifest.js';
import type { BackupObserver } from '../core/backup-observer.js';
import { OperationError, describeError } from '../core/errors.js';
import { deltaHealth, type HealthReport } from '../core/health.js';
import { backupJobProgress, type JobQueue } from '../core/jobs.js';
import { backupAndPrune, backupRunContext } from '../ops/backup-run.js';
import type { OpContext } from '../ops/context.js';
import { DeltaRecorder } from '../ops/delta-recorder.js';
import type { BackupRepository } from '../store/backup-repository.js';
import { addDeltaMetrics } from './delta-metrics.js';
import type { Metrics } from './metrics.js';

/** What `run` holds of continuous backups: the hook that starts chains, the health check, and the stop. */
export interface DeltaRecording {
  /** Tells the recorder of every full backup that succeeds: each starts a new chain. */
  observer: BackupObserver;
  /** /healthz with the recording's part: 503 when no watch has received for more than 3 intervals. */
  health(report: HealthReport): HealthReport;
  /**
   * Stops the watch and stores the changes received so far; resolves once they are stored, with what could not be
   * (`givenUp`: the store failed the last attempts), and from which revision nothing was received (`unrecorded`: the
   * watch was down at the stop).
   */
  stop(): Promise<{ givenUp?: string; unrecorded?: { fromRevision: number; downForMs: number } }>;
}

export interface DeltaRecordingDeps {
  repo: BackupRepository;
  jobs: JobQueue;
  metrics: Metrics;
  /** The run's observer (metrics, health, and this recording's) for the full backups the recorder asks for. */
  observer: () => BackupObserver;
}

/**
 * Starts continuous backups (RS_DELTA_INTERVAL) in `run`. A full backup the recorder needs (none yet, or a chain
 * broken) is a job of the run's queue, with retention after it, as a scheduled one is; while any full backup runs,
 * segments wait so the chain it ends ends exactly at its revision.
 */
export function startDeltaRecording(ctx: OpContext, deps: DeltaRecordingDeps): DeltaRecording {
  const { config, log } = ctx;
  const { jobs, repo } = deps;
  let metrics: ReturnType<typeof addDeltaMetrics> | undefined;
  const recorder = new DeltaRecorder({
    config,
    log: log.child({ component: 'delta' }),
    repo,
    backupRunning: () => jobs.pending((j) => j.kind === 'backup' && j.state === 'running').length > 0,
    fullBackup: async (reason) => {
      const job = jobs.submit({
        kind: 'backup', trigger: 'schedule', writes: true, params: { reason },
        run: async (j) => {
          const run = await backupRunContext({ ...ctx, signal: j.signal }, repo);
          return backupAndPrune(run.ctx, repo, { ...run.start, observer: deps.observer(), inUse: () => jobs.backupsInUse(), onProgress: (p) => j.progress(backupJobProgress(p)) });
        },
      });
      const done = await jobs.wait(job.id);
      if (done?.state !== 'succeeded') throw new OperationError(`the full backup failed: ${done?.error ?? 'it did not finish'}`);
      return done.result as Manifest;
    },
    onStored: (m) => metrics?.segmentStored(m),
  });
  metrics = addDeltaMetrics(deps.metrics.registry, () => recorder.state);
  const running = recorder.run().catch((err: unknown) => {
    log.error({ err: describeError(err) }, 'continuous backups stopped');
  });
  return {
    observer: { backupSucceeded: (m) => recorder.newBase(m) },
    health: (report) => deltaHealth(report, recorder.state, config.delta.intervalMs),
    async stop() {
      recorder.stop();
      await running;
      return { ...(recorder.givenUp !== undefined && { givenUp: recorder.givenUp }), ...(recorder.unrecorded && { unrecorded: recorder.unrecorded }) };
    },
  };
}
