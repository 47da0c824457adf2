import cron from 'node-cron';
import { AbortedError, ConfigError, describeError } from '../core/errors.js';
import { createBackup } from './backup.js';
import type { CommandContext } from './context.js';
import { prune } from './prune.js';
import { openRepository } from './shared.js';

/**
 * `reshifter run`: long-running; a backup (then retention) on RS_SCHEDULE, never two at once. On SIGTERM/SIGINT
 * it stops scheduling, aborts a backup in flight (which leaves nothing half-written) and returns; an interrupted
 * backup makes it fail, so a pod or unit shows that the last run did not complete.
 */
export async function runCommand(ctx: CommandContext): Promise<void> {
  const { config, log, signal } = ctx;
  if (config.schedule === undefined) {
    throw new ConfigError(['RS_SCHEDULE is required for "run" (a cron expression, e.g. "0 */6 * * *")']);
  }
  const repo = openRepository(config);
  let running: Promise<void> | undefined;
  let interrupted = false;

  const once = async () => {
    if (running || signal.aborted) {
      log.warn('previous backup still running; skipping this slot');
      return;
    }
    running = (async () => {
      try {
        const manifest = await createBackup(ctx, repo);
        await prune(ctx, repo, { protect: new Set([manifest.id]) });
      } catch (err) {
        if (err instanceof AbortedError) interrupted = true;
        // Already logged by createBackup; retention is not run after a failed backup.
        log.debug({ err: describeError(err) }, 'scheduled backup failed');
      }
    })().finally(() => {
      running = undefined;
    });
    await running;
  };

  const task = cron.schedule(config.schedule, once, { name: 'backup', noOverlap: true });
  log.info({ schedule: config.schedule, next: task.getNextRun()?.toISOString(), store: repo.store.location }, 'scheduler started');
  await new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
  log.info('stopping: no new backups will start');
  await task.stop();
  await task.destroy();
  if (running) await running;
  await repo.store.close();
  if (interrupted) throw new AbortedError('stopped while a backup was running; that backup was discarded');
  log.info('stopped');
}
