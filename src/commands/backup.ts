import type { AuditRow } from '../kube/audit-row.js';
import type { Manifest } from '../archive/manifest.js';
import { RetentionError, backupAndPrune, backupRunContext, checkpointBackupsAndPrune, isCheckpointRun } from '../ops/backup-run.js';
import { warnIfWritingPlain } from '../ops/encryption-keys.js';
import { openRepository } from '../ops/repository.js';
import { rowPacer, type CommandContext } from './context.js';

/**
 * `reshifter backup [--json]`: one backup now, then retention; prints the new id (`--json`: the manifest), and a
 * `render` listing row by row as it is read (JSON lines with --json). Pushes its metrics when RS_PUSHGATEWAY_URL is set.
 */
export async function backupCommand(ctx: CommandContext): Promise<void> {
  if (isCheckpointRun(ctx)) return checkpointCommand(ctx);
  // Set in a CronJob's or a timer's environment it would pass for continuous backups, which only `run` records.
  if (ctx.config.delta.intervalMs > 0) {
    ctx.log.warn({ deltaIntervalMs: ctx.config.delta.intervalMs }, 'RS_DELTA_INTERVAL is set, but a one-off backup records no changes after it: only "reshifter run" does (a Deployment or a long-running service, not a CronJob or a timer)');
  }
  warnIfWritingPlain(ctx.config, ctx.log);
  const json = ctx.args.flags.json === true;
  const metrics = await pushedMetrics(ctx);
  const repo = openRepository(ctx.config, ctx.log);
  // Never throws: a store it cannot list leaves the id to this clock (the backup's own writes then fail); a bucket
  // that does not exist fails the backup below, before etcd is read, as a failed backup (pushed metrics count it).
  const run = await backupRunContext(ctx, repo);
  // A reader behind on the listing (`| less`) holds the backup up rather than the rows piling up in memory.
  const pace = rowPacer(ctx);
  const print = (m: Manifest) => ctx.print(json ? JSON.stringify(m) : `${m.id}\t${m.artifact}\t${m.sizeBytes} bytes`);
  // Only a `render` listing prints rows (never chosen by RS_BACKUP_STRATEGY=auto): the Kubernetes decoders are loaded
  // for it alone.
  let rowText = ctx.config.strategy?.kind === 'render' ? (await import('../kube/audit-row.js')).auditRowText : undefined;
  // Retention runs after a stored backup only; otherwise the gateway keeps the retention counts of the last run's.
  let retentionRan = false;
  try {
    const manifest = await backupAndPrune(run.ctx, repo, {
      ...run.start,
      ...(metrics && { observer: metrics.observer }),
      onRenderRow: (row: AuditRow) => {
        if (!json && rowText === undefined) {
          return import('../kube/audit-row.js').then(({ auditRowText }) => {
            rowText = auditRowText;
            ctx.print(rowText(row));
            return pace();
          });
        }
        ctx.print(json ? JSON.stringify(row) : rowText!(row));
        return pace();
      },
    });
    retentionRan = true;
    print(manifest);
  } catch (err) {
    // Stored, then its retention failed: its id is printed as for any stored backup (`ID=$(reshifter backup)`); exit 1.
    if (err instanceof RetentionError) {
      retentionRan = true;
      err.stored.forEach(print);
    }
    throw err;
  } finally {
    await repo.store.close();
    await metrics?.push(run.ctx.log, retentionRan);
  }
}

/**
 * Metrics exist only to be pushed: without RS_PUSHGATEWAY_URL a backup does not load prom-client at all (0.1-0.3 s
 * of start-up before the snapshot stream opens).
 */
async function pushedMetrics(ctx: CommandContext, always = false) {
  const url = ctx.config.pushgatewayUrl;
  if (url === undefined && !always) return undefined;
  const metrics = (await import('../server/metrics.js')).processMetrics();
  return {
    observer: metrics.observer,
    push: async (log = ctx.log, retentionRan = true) => {
      if (url === undefined) return;
      const { pushMetrics, pushGroupOf } = await import('../server/pushgateway.js');
      await pushMetrics(url, metrics, pushGroupOf(ctx.config), log, { retentionRan });
    },
  };
}

/**
 * `reshifter backup` with RS_BACKUP_STRATEGY=checkpoint: one backup per container, one line each (`--json`: its
 * manifest), printed for the ones stored even when others failed; then the failures, each named, and exit code 1.
 */
async function checkpointCommand(ctx: CommandContext): Promise<void> {
  const json = ctx.args.flags.json === true;
  // Checkpoints are not in a hurry: their outcomes are always counted in the process's metrics.
  const metrics = (await pushedMetrics(ctx, true))!;
  const repo = openRepository(ctx.config, ctx.log);
  const print = (m: Manifest) => ctx.print(json ? JSON.stringify(m) : `${m.id}\t${m.checkpoint!.namespace}/${m.checkpoint!.pod}/${m.checkpoint!.container}\t${m.artifact}\t${m.sizeBytes} bytes`);
  try {
    const manifests = await checkpointBackupsAndPrune(ctx, repo, { observer: metrics.observer });
    manifests.forEach(print);
  } catch (err) {
    const { CheckpointRunError } = await import('../ops/checkpoint-backup.js');
    if (err instanceof CheckpointRunError) err.result.manifests.forEach(print);
    if (err instanceof RetentionError) err.stored.forEach(print);
    throw err;
  } finally {
    await repo.store.close();
    await metrics.push();
  }
}
