import type { ScheduledTask } from 'node-cron';
import { isDeltaManifest } from '../archive/manifest.js';
import { combineObservers, type BackupObserver } from '../core/backup-observer.js';
import { AbortedError, ConfigError, OperationError, StoreError, describeError } from '../core/errors.js';
import { clustersOfSeries } from '../core/etcd-cluster-change.js';
import type { HealthReport } from '../core/health.js';
import { JobQueue, type JobView } from '../core/jobs.js';
import { seriesOf } from '../core/series.js';
import type { Logger } from '../log.js';
import type { OpContext } from '../ops/context.js';
import { warnIfWritingPlain } from '../ops/encryption-keys.js';
import { openRepository } from '../ops/repository.js';
import { API_PATHS, createApiServices, handleApi } from '../server/api/index.js';
import { contentReadsOpen, isLoopback } from '../server/exposure.js';
import { ScheduleHealth } from '../server/health-state.js';
import { startHttpServer, type RunningHttpServer } from '../server/http-server.js';
import { addProcessMetrics, processMetrics, type Metrics } from '../server/metrics.js';
import { scheduleBackups } from '../server/scheduler.js';
import { scheduleTimeZone } from '../server/schedule-zone.js';
import { startDeltaRecording, type DeltaRecording } from '../server/delta-recording.js';
import { handleUi, UI_PATHS } from '../server/ui/handle-ui.js';
import type { BackupRepository } from '../store/backup-repository.js';
import type { CommandContext } from './context.js';

/**
 * `reshifter run`: long-running; a backup (then retention) on RS_SCHEDULE, never two at once, with `/healthz`,
 * `/metrics`, the HTTP API (`/api/v1/`) and the web UI (`/`) on RS_HTTP_PORT (0 disables). Without RS_SCHEDULE it
 * only serves. Scheduled backups and the API's jobs share one queue, so writes never interleave. On SIGTERM/SIGINT
 * it stops scheduling, aborts the job in flight (a backup leaves nothing half-written), drops queued ones, closes
 * the HTTP server and returns; an interrupted job makes it fail, so a pod or unit shows that the run did not complete.
 */
export async function runCommand(cmd: CommandContext): Promise<void> {
  // A long-running process keeps stdout for nothing but its logs' neighbours: operations never print, and the
  // render listing goes to the store only.
  const ctx: OpContext = { config: cmd.config, log: cmd.log, signal: cmd.signal };
  const { config, log, signal } = ctx;
  if (config.schedule === undefined && config.httpPort === 0 && config.delta.intervalMs === 0) {
    throw new ConfigError([
      '"run" needs RS_SCHEDULE (scheduled backups, e.g. "0 */6 * * *") or RS_HTTP_PORT (the API and web UI): with neither it would do nothing',
    ]);
  }
  const zone = scheduleTimeZone();
  if (config.schedule !== undefined && 'problem' in zone) throw new ConfigError([zone.problem]);
  const timeZone = 'zone' in zone ? zone.zone : undefined;
  warnIfWritingPlain(config, log);
  const metrics = processMetrics();
  addProcessMetrics(metrics);
  const health = new ScheduleHealth();
  let delta: DeltaRecording | undefined;
  // Every full backup that succeeds (scheduled, from the API, or one the recorder asked for) starts a new chain.
  const observer = combineObservers(metrics.observer, health.observer, { backupSucceeded: (m) => delta?.observer.backupSucceeded?.(m) });
  const repo = openRepository(config, log);
  let interrupted: Pick<JobView, 'kind' | 'error'> | undefined;
  // Scheduled backups and the API's backups and restores share one queue: one writing job at a time, in order.
  const jobs = new JobQueue({
    onChange: (job) => {
      logFailedJob(log, job);
      // A job cut off by SIGTERM/SIGINT: the run did not complete, and the exit code says so.
      if (job.state === 'failed' && job.writes && job.startedAt !== undefined && signal.aborted) interrupted = job;
    },
  });
  const task = config.schedule === undefined
    ? undefined
    : scheduleBackups(ctx, config.schedule, { repo, jobs, health, observer, onInterrupted: () => (interrupted ??= { kind: 'backup' }) });
  const { server, stopSeeding } = await startServing(ctx, { repo, jobs, health, observer, metrics, task, deltaHealth: (r) => delta?.health(r) ?? r });
  await announce(ctx, task, repo, server, timeZone);
  if (config.delta.intervalMs > 0) delta = startDeltaRecording(ctx, { repo, jobs, metrics, observer: () => observer });
  await untilAborted(signal);
  log.info('stopping: no new backups will start');
  stopSeeding();
  await task?.stop();
  await task?.destroy();
  // The changes received so far are stored before exit; a full backup the recorder waits for is aborted with the rest.
  const flushed = delta?.stop();
  await jobs.close(signal.reason);
  const { givenUp, unrecorded } = (await flushed) ?? {};
  await server?.close();
  await repo.store.close();
  if (interrupted) throw new AbortedError(interruptedText(interrupted));
  sayStopped(log, givenUp, unrecorded);
}

/**
 * run's last line. Changes received but not stored (the store failed) are lost: exit 1. A watch of etcd down at the
 * stop received nothing since some revision: nothing received is lost, and etcd keeps those changes in its history
 * for the next run to record from the stored chain (see Continuous backups), so the stop is as asked (exit 0), said
 * as it is rather than as a plain 'stopped'.
 */
function sayStopped(log: Logger, givenUp: string | undefined, unrecorded: { fromRevision: number; downForMs: number } | undefined): void {
  // Exit 1: the pod, the unit, the operator must see that the last changes are not in the store.
  if (givenUp !== undefined) throw new OperationError(`stopped, but continuous backups lost changes: ${givenUp}`);
  if (unrecorded === undefined) {
    log.info('stopped');
    return;
  }
  const { fromRevision, downForMs } = unrecorded;
  log.warn(
    { unrecordedFromRevision: fromRevision, watchDownForMs: downForMs },
    `stopped while the watch of etcd was down (for ${Math.round(downForMs / 1000)} s): the changes from revision ${fromRevision} on are not recorded; ` +
      `the next run records them from the stored chain if etcd still holds that history, else it takes a full backup and says so (those changes are then in no backup)`,
  );
}

/**
 * A restore or verify asked for through the API or the web UI that failed is said in the log, as a failed backup is
 * (by the backup itself): the job list that also says it lives only as long as the process. So is a writing job a
 * stop cancelled while it waited in the queue (a restore behind a long backup): it never ran.
 */
function logFailedJob(log: Logger, job: JobView): void {
  if (job.state !== 'failed') return;
  const fields = { jobId: job.id, kind: job.kind, trigger: job.trigger, params: job.params, err: job.error };
  if (job.startedAt === undefined) log.warn(fields, `${job.kind} job cancelled before it started`);
  else if (job.kind !== 'backup') log.error(fields, `${job.kind} job failed`);
}

/**
 * What a stop cut short: a backup leaves nothing behind; a restore (from the API or the web UI) leaves etcd with the
 * keys it wrote, which its own error counts.
 */
function interruptedText(job: Pick<JobView, 'kind' | 'error'>): string {
  if (job.kind !== 'restore') return 'stopped while a backup was running; that backup was discarded';
  return `stopped while a restore was running, which did not complete: ${job.error ?? 'interrupted'}`;
}

interface Serving {
  repo: BackupRepository;
  jobs: JobQueue;
  health: ScheduleHealth;
  observer: BackupObserver;
  metrics: Metrics;
  task: ScheduledTask | undefined;
  /** Adds continuous backups' part to /healthz. */
  deltaHealth: (report: HealthReport) => HealthReport;
}

/** The HTTP server on RS_HTTP_PORT (none with 0), and the last-success metric seeded from the store (what stops its retries). */
async function startServing(ctx: OpContext, s: Serving): Promise<{ server: RunningHttpServer | undefined; stopSeeding: () => void }> {
  const { config, log } = ctx;
  let server: RunningHttpServer | undefined;
  try {
    if (config.httpPort !== 0) {
      const contentOpen = contentReadsOpen({ address: config.httpAddress, token: config.apiToken, readOpen: config.apiReadOpen });
      const services = createApiServices(ctx, s.repo, { observer: s.observer, inUse: () => s.jobs.backupsInUse() });
      const api = { jobs: s.jobs, log, services, contentOpen, ...(config.apiToken !== undefined && { token: config.apiToken }) };
      warnIfExposed(ctx, contentOpen);
      server = await startHttpServer({
        port: config.httpPort,
        host: config.httpAddress,
        allowedHosts: config.httpAllowedHosts,
        log,
        health: () => s.deltaHealth(s.health.report(s.task?.getNextRun() ?? undefined)),
        metrics: async () => ({ contentType: s.metrics.registry.contentType, body: await s.metrics.registry.metrics() }),
        routes: { paths: [...API_PATHS, ...UI_PATHS], handle: async (req, res) => (await handleApi(req, res, api)) || (await handleUi(req, res)) },
      });
    }
    // A stop (SIGTERM) does not wait for the first listing: with thousands of backups on a slow store it takes long,
    // and the stop waited for it before it aborted a backup started through the API meanwhile (the kubelet's SIGKILL
    // comes 30 s after SIGTERM). The listing's retries are stopped when it ends, whenever that is.
    const seeding = seedLastSuccess(s.repo, s.metrics, s.health, log);
    const seeded = await Promise.race([seeding, untilAborted(ctx.signal).then(() => undefined)]);
    const stopSeeding = seeded ?? (() => void seeding.then((stop) => stop()));
    return { server, stopSeeding };
  } catch (err) {
    await server?.close();
    await s.repo.store.close();
    throw err;
  }
}

/**
 * Says at start when the API answers beyond this machine without a token: a port on a node's network is reachable by
 * every pod of the cluster.
 */
function warnIfExposed(ctx: OpContext, contentOpen: boolean): void {
  const { httpAddress: address, httpPort: port, apiToken } = ctx.config;
  if (apiToken !== undefined || isLoopback(address)) return;
  const contentReads = contentOpen ? 'open to anyone who reaches the port (RS_API_READ_OPEN=true)' : 'refused (403); RS_API_READ_OPEN=true opens them';
  ctx.log.warn(
    { address, port, contentReads, fix: 'set RS_API_TOKEN (from a Secret), or RS_HTTP_ADDRESS=127.0.0.1' },
    'the HTTP API is reachable beyond loopback without RS_API_TOKEN: anyone who reaches the port can list backups and jobs',
  );
}

/** Starts the schedule, and says what runs. */
async function announce(
  ctx: OpContext,
  task: ScheduledTask | undefined,
  repo: BackupRepository,
  server: RunningHttpServer | undefined,
  timeZone: string | undefined,
): Promise<void> {
  const httpPort = server?.port ?? 0;
  if (task) {
    await task.start();
    ctx.log.info({ schedule: ctx.config.schedule, timeZone, next: task.getNextRun()?.toISOString(), store: repo.store.location, httpPort }, 'scheduler started');
  } else {
    ctx.log.info({ store: repo.store.location, httpPort }, 'serving without a schedule (RS_SCHEDULE is not set)');
  }
}

function untilAborted(signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

/** How soon the store's listing is tried again when it failed at start (then doubled, up to RESEED_MAX_MS). */
const RESEED_FIRST_MS = 1000;
const RESEED_MAX_MS = 60_000;

/**
 * Sets the last-success metric from the newest backup in the store, so alerts on its age survive a restart. A store
 * that cannot be listed now (an S3 server down or restarting) is a warning, and the listing is tried again (1 s,
 * doubling up to a minute) until it works: otherwise the metric stayed 0 until a backup succeeded, and the age the
 * alerts read counted from this start, not from the last backup, paging hours late. One that refuses reshifter
 * (credentials, permissions, a bucket that does not exist) turns /healthz unhealthy at once, and sets the
 * last-failure metric: a scraper sees it now (last failure after last success, as the alert on failing backups
 * reads it), not hours later. Returns what stops the retries.
 */
async function seedLastSuccess(repo: BackupRepository, metrics: Metrics, health: ScheduleHealth, log: Logger): Promise<() => void> {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const attempt = async (delayMs: number): Promise<void> => {
    const outcome = await seedOnce(repo, metrics, log, delayMs === RESEED_FIRST_MS);
    if (typeof outcome === 'object' && outcome.refused) {
      health.refusedAtStart(describeError(outcome.err));
      metrics.lastFailure.set(Date.now() / 1000);
    } else if (typeof outcome === 'object' && !stopped) {
      timer = setTimeout(() => void attempt(Math.min(delayMs * 2, RESEED_MAX_MS)), delayMs);
      timer.unref();
    }
  };
  await attempt(RESEED_FIRST_MS);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/**
 * One listing of the store for the last success and the etcd clusters kept in its series: 'listed' (the metrics
 * set, or no backup there), or the error with whether the store refused reshifter. The first failure is a warning; those of retries are at debug level.
 */
async function seedOnce(repo: BackupRepository, metrics: Metrics, log: Logger, first: boolean): Promise<'listed' | { err: unknown; refused: boolean }> {
  try {
    const listing = await repo.list();
    const newest = listing.backups.find((m) => !isDeltaManifest(m));
    const known = (await metrics.lastSuccess.get()).values[0]?.value ?? 0;
    // A backup that succeeded meanwhile has set it already (and is the newest listed).
    if (newest) metrics.lastSuccess.set(Math.max(known, Date.parse(newest.createdAt) / 1000));
    // The clusters kept in the newest backup's series: a restart must not resolve the alert on it until a backup.
    if (newest && ((await metrics.clustersKept.get()).values[0]?.value ?? 0) === 0) metrics.clustersKept.set(clustersOfSeries(listing.backups, seriesOf(newest)));
    if (!first) log.info({ newestBackup: newest?.id }, 'listed the existing backups: the last-success metric is set');
    return 'listed';
  } catch (err) {
    const refused = err instanceof StoreError && (err.kind === 'denied' || err.kind === 'no-bucket');
    if (first) log.warn({ err: describeError(err), ...(!refused && { retrying: true }) }, 'cannot list existing backups');
    else log.debug({ err: describeError(err) }, 'cannot list existing backups yet');
    return { err, refused };
  }
}
