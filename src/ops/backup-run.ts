import type { Manifest } from '../archive/manifest.js';
import { AbortedError, OperationError, StoreError, describeError } from '../core/errors.js';
import type { RetentionDecision } from '../core/retention.js';
import { seriesOf } from '../core/series.js';
import type { BackupRepository } from '../store/backup-repository.js';
import { createBackup, type BackupOptions } from './backup.js';
import { newBackupIdIn } from './backup-id.js';
import type { OpContext } from './context.js';
import { prune } from './prune.js';

/**
 * A context for one backup run: the caller's, with a new backup id bound to every log line of the run; the id never
 * sorts before the newest backup of the cluster, whatever this machine's clock says (newBackupIdIn). `start` is what
 * to give backupAndPrune: the id, and a bucket found missing, which fails the backup before it reads etcd.
 */
export async function backupRunContext<C extends OpContext>(ctx: C, repo: BackupRepository): Promise<{ id: string; ctx: C; start: Pick<BackupOptions, 'id' | 'noBucket'> }> {
  const { id, log, noBucket } = await newBackupIdIn(repo, ctx);
  return { id, ctx: { ...ctx, log }, start: { id, ...(noBucket && { noBucket }) } };
}

/**
 * One backup run as `backup`, `run` and the API do it: the backup, then retention of its series (never after a
 * failed backup).
 * The observer hears how both went. Pass the id of `backupRunContext` so every log line of the run carries it.
 */
export async function backupAndPrune(ctx: OpContext, repo: BackupRepository, opts: BackupOptions = {}): Promise<Manifest> {
  const manifest = await createBackup(ctx, repo, opts);
  try {
    // Counted as each goes, so that a retention failing half-way still counts what it deleted. Only this backup's
    // series: another job taking another strategy into the cluster keeps its backups by its own rules.
    const series = seriesOf(manifest);
    const { decisions } = await prune(ctx, repo, { protect: new Set([manifest.id, ...(opts.inUse?.() ?? [])]), series: [series], onDeleted: (ids) => opts.observer?.retentionDeleted?.(ids) });
    // A gauge, not only the change's counter: a Pushgateway keeps each push's values, so the next backup's push
    // replaced the counter's 1 with 0 while the other cluster's backups went on.
    opts.observer?.etcdClustersKept?.(clustersKept(decisions, series));
  } catch (err) {
    ctx.log.error({ err: describeError(err) }, 'retention failed');
    opts.observer?.retentionFailed?.(describeError(err));
    throw retentionError([manifest], err);
  }
  return manifest;
}

/**
 * The etcd clusters the kept backups of `series` are of. Backups that record none (written before the field, of
 * members unlike any that do; or of no etcd) count as one more, as retention counts them on their own.
 */
function clustersKept(decisions: readonly RetentionDecision[], series: string): number {
  return new Set(decisions.filter((d) => d.keep && d.series === series).map((d) => d.etcdClusterId ?? '')).size;
}

/**
 * Retention failed after `stored` were stored: they stand, and the error says so, naming them, so that a caller
 * (the `backup` command) still prints them. A signal that stopped the retention is left as it is (AbortedError).
 */
export class RetentionError extends OperationError {
  override name = 'RetentionError';
  constructor(
    readonly stored: readonly Manifest[],
    cause: unknown,
  ) {
    const which = stored.length === 1 ? `backup ${stored[0]!.id} is` : `backups ${stored.map((m) => m.id).join(', ')} are`;
    // A store that may never delete (a bucket policy denying s3:DeleteObject) fails every run's retention alike.
    const denied =
      cause instanceof StoreError && cause.kind === 'denied'
        ? '; where the store may not delete (a bucket policy that denies s3:DeleteObject), retention cannot keep it in check: ' +
          'leave RS_RETENTION_* unset for it, and let the bucket expire old backups (a lifecycle rule)'
        : '';
    super(`${which} stored, but the retention after it failed: ${describeError(cause)}${denied}`, { cause });
  }
}

function retentionError(stored: readonly Manifest[], err: unknown): unknown {
  return err instanceof AbortedError ? err : new RetentionError(stored, err);
}

/** True when this run takes container checkpoints (RS_BACKUP_STRATEGY or the caller's strategy is `checkpoint`). */
export function isCheckpointRun(ctx: OpContext, opts: Pick<BackupOptions, 'strategy'> = {}): boolean {
  return (opts.strategy ?? ctx.config.strategy)?.kind === 'checkpoint';
}

/**
 * A checkpoint run as `backup`, `run` and the API do it: one backup per container, then retention of the series of
 * the containers stored, when any was (a container that keeps failing must not stop the others' retention; its own
 * series gets nothing new, so retention takes nothing from it). Throws CheckpointRunError, holding the stored
 * manifests, when any container failed. Each backup binds its own id to its log lines.
 */
export async function checkpointBackupsAndPrune(ctx: OpContext, repo: BackupRepository, opts: BackupOptions = {}): Promise<Manifest[]> {
  // Loaded for checkpoint runs only (the kubelet client, OCI archives): an etcd backup starts without it.
  const { CheckpointRunError, checkpointBackups } = await import('./checkpoint-backup.js');
  const result = await checkpointBackups(ctx, repo, opts);
  if (result.manifests.length > 0) {
    try {
      const series = result.manifests.map((m) => seriesOf(m));
      const protect = new Set([...result.manifests.map((m) => m.id), ...(opts.inUse?.() ?? [])]);
      await prune(ctx, repo, { protect, series, onDeleted: (ids) => opts.observer?.retentionDeleted?.(ids) });
    } catch (err) {
      ctx.log.error({ err: describeError(err) }, 'retention failed');
      opts.observer?.retentionFailed?.(describeError(err));
      throw retentionError(result.manifests, err);
    }
  }
  if (result.failures.length > 0) throw new CheckpointRunError(result);
  return result.manifests;
}
