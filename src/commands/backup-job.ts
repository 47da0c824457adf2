import type { Manifest } from '../archive/manifest.js';
import { describeError } from '../core/errors.js';
import { newBackupId } from '../core/naming.js';
import type { BackupRepository } from '../store/backup-repository.js';
import { createBackup, type BackupOptions } from './backup.js';
import type { CommandContext } from './context.js';
import { prune } from './prune.js';

/** A context for one backup run: the command's, with a new backup id bound to every log line of the run. */
export function backupRunContext(ctx: CommandContext): { id: string; ctx: CommandContext } {
  const id = newBackupId();
  return { id, ctx: { ...ctx, log: ctx.log.child({ backupId: id }) } };
}

/**
 * One backup run as `backup` and `run` do it: the backup, then retention (never after a failed backup). The
 * observer hears how both went. Pass the id of `backupRunContext` so every log line of the run carries it.
 */
export async function backupAndPrune(
  ctx: CommandContext,
  repo: BackupRepository,
  opts: Pick<BackupOptions, 'id' | 'observer' | 'strategy' | 'onProgress'> = {},
): Promise<Manifest> {
  const manifest = await createBackup(ctx, repo, {
    ...(opts.id !== undefined && { id: opts.id }),
    ...(opts.observer && { observer: opts.observer }),
    ...(opts.strategy && { strategy: opts.strategy }),
    ...(opts.onProgress && { onProgress: opts.onProgress }),
  });
  try {
    const result = await prune(ctx, repo, { protect: new Set([manifest.id]) });
    opts.observer?.retentionDeleted?.(result.deleted);
  } catch (err) {
    ctx.log.error({ err: describeError(err) }, 'retention failed');
    throw err;
  }
  return manifest;
}
