import cron, { type ScheduledTask, type TaskContext } from 'node-cron';
import { combineObservers } from '../core/backup-observer.js';
import { AbortedError, ConfigError, describeError } from '../core/errors.js';
import { JobQueue } from '../core/jobs.js';
import type { Logger } from '../log.js';
import { createApiServices, handleApi } from '../server/api/index.js';
import { handleUi } from '../server/ui/handle-ui.js';
import { ScheduleHealth } from '../server/health-state.js';
import { startHttpServer, type RunningHttpServer } from '../server/http-server.js';
import { addProcessMetrics, processMetrics, type Metrics } from '../server/metrics.js';
import type { BackupRepository } from '../store/backup-repository.js';
import { backupAndPrune, backupRunContext } from '../ops/backup-run.js';
import { openRepository } from '../ops/repository.js';
import type { CommandContext } from './context.js';

/**
 * `reshifter run`: long-running; a backup (then retention) on RS_SCHEDULE, never two at once, with `/healthz`,
 * `/metrics`, the HTTP API (`/api/v1/`) and the web UI (`/`) on RS_HTTP_PORT (0 disables). Without RS_SCHEDULE it
 * only serves. Scheduled backups and the API's jobs share one queue, so writes never interleave. On SIGTERM/SIGINT
 * it stops scheduling, aborts the job in flight (a backup leaves nothing half-written), drops queued ones, closes
 * the HTTP server and returns; an interrupted job makes it fail, so a pod or unit shows that the run did not complete.
 */
export async function runCommand(cmd: CommandContext): Promise<void> {
  // A long-running process keeps stdout for nothing but its logs' neighbours: a `render` listing goes to the store
  // only, never echoed row by row into the container's log stream.
  const ctx: CommandContext = { ...cmd, print: () => undefined };
  const { config, log, signal } = ctx;
  if (config.schedule === undefined && config.httpPort === 0) {
    throw new ConfigError([
      '"run" needs RS_SCHEDULE (scheduled backups, e.g. "0 */6 * * *") or RS_HTTP_PORT (the API and web UI): with neither it would do nothing',
    ]);
  }
  const metrics = processMetrics();
  addProcessMetrics(metrics);
  const health = new ScheduleHealth();
  const observer = combineObservers(metrics.observer, health.observer);
  const repo = openRepository(config, log);
  let interrupted = false;
  let server: RunningHttpServer | undefined;
  // Scheduled backups and the API's backups and restores share one queue: one writing job at a time, in order.
  const jobs = new JobQueue({
    onChange: (job) => {
      // A job cut off by SIGTERM/SIGINT: the run did not complete, and the exit code says so.
      if (job.state === 'failed' && job.writes && job.startedAt !== undefined && signal.aborted) interrupted = true;
    },
  });

  const once = async (at: Date) => {
    health.runDue(at);
    if (signal.aborted || jobs.pending((j) => j.kind === 'backup' && j.trigger === 'schedule').length > 0) {
      log.warn({ slot: at.toISOString() }, 'previous backup still running; skipping this slot');
      return;
    }
    const job = jobs.submit({
      kind: 'backup',
      trigger: 'schedule',
      writes: true,
      run: async (j) => {
        const run = backupRunContext({ ...ctx, signal: j.signal });
        try {
          return await backupAndPrune(run.ctx, repo, { id: run.id, observer, onProgress: (p) => j.progress({ bytes: p.bytes }) });
        } catch (err) {
          if (err instanceof AbortedError) interrupted = true;
          // Already logged as "backup failed" or "retention failed".
          run.ctx.log.debug({ err: describeError(err) }, 'scheduled backup failed');
          throw err;
        }
      },
    });
    await jobs.wait(job.id);
  };

  let task: ScheduledTask | undefined;
  if (config.schedule !== undefined) {
    task = cron.createTask(config.schedule, (c: TaskContext) => once(c.date), { name: 'backup', logger: cronLogger(log) });
    // A slot node-cron could not fire on time (the process was starved) still came due.
    task.on('execution:missed', (c) => health.runDue(c.date));
  }
  try {
    if (config.httpPort !== 0) {
      const api = {
        jobs,
        log,
        services: createApiServices(ctx, repo, { observer }),
        ...(config.apiToken !== undefined && { token: config.apiToken }),
      };
      server = await startHttpServer({
        port: config.httpPort,
        log,
        health: () => health.report(task?.getNextRun() ?? undefined),
        metrics: async () => ({ contentType: metrics.registry.contentType, body: await metrics.registry.metrics() }),
        routes: async (req, res) => (await handleApi(req, res, api)) || (await handleUi(req, res)),
      });
    }
    await seedLastSuccess(repo, metrics, log);
  } catch (err) {
    await server?.close();
    await repo.store.close();
    throw err;
  }
  if (task) {
    await task.start();
    log.info({ schedule: config.schedule, next: task.getNextRun()?.toISOString(), store: repo.store.location, httpPort: server?.port ?? 0 }, 'scheduler started');
  } else {
    log.info({ store: repo.store.location, httpPort: server?.port ?? 0 }, 'serving without a schedule (RS_SCHEDULE is not set)');
  }
  await new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
  log.info('stopping: no new backups will start');
  await task?.stop();
  await task?.destroy();
  await jobs.close(signal.reason);
  await server?.close();
  await repo.store.close();
  if (interrupted) throw new AbortedError('stopped while a backup was running; that backup was discarded');
  log.info('stopped');
}

/**
 * Sets the last-success metric from the newest backup in the store, so alerts on its age survive a restart.
 * A store that cannot be listed now is only a warning: the first backup will tell.
 */
async function seedLastSuccess(repo: BackupRepository, metrics: Metrics, log: Logger): Promise<void> {
  try {
    const newest = (await repo.list()).backups[0];
    if (newest) metrics.lastSuccess.set(Date.parse(newest.createdAt) / 1000);
  } catch (err) {
    log.warn({ err: describeError(err) }, 'cannot list existing backups');
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
