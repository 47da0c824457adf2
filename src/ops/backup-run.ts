import type { Manifest } from '../archive/manifest.js';
import { describeError } from '../core/errors.js';
import { newBackupId } from '../core/naming.js';
import type { BackupRepository } from '../store/backup-repository.js';
import { createBackup, type BackupOptions } from './backup.js';
import type { OpContext } from './context.js';
import { prune } from './prune.js';

/** A context for one backup run: the caller's, with a new backup id bound to every log line of the run. */
export function backupRunContext<C extends OpContext>(ctx: C): { id: string; ctx: C } {
  const id = newBackupId();
  return { id, ctx: { ...ctx, log: ctx.log.child({ backupId: id }) } };
}

/**
 * One backup run as `backup`, `run` and the API do it: the backup, then retention (never after a failed backup).
 * The observer hears how both went. Pass the id of `backupRunContext` so every log line of the run carries it.
 */
export async function backupAndPrune(ctx: OpContext, repo: BackupRepository, opts: BackupOptions = {}): Promise<Manifest> {
  const manifest = await createBackup(ctx, repo, opts);
  try {
    const result = await prune(ctx, repo, { protect: new Set([manifest.id]) });
    opts.observer?.retentionDeleted?.(result.deleted);
  } catch (err) {
    ctx.log.error({ err: describeError(err) }, 'retention failed');
    throw err;
  }
  return manifest;
}
