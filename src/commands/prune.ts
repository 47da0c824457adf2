import { decideRetention, hasRetentionRules } from '../core/retention.js';
import type { BackupRepository } from '../store/backup-repository.js';
import type { CommandContext } from './context.js';
import { openRepository } from './shared.js';

/** Files of no backup (a failed or killed run) are removed once they are this old; younger ones may be in flight. */
export const ORPHAN_AGE_MS = 60 * 60 * 1000;

export interface PruneResult {
  deleted: string[];
  kept: string[];
  orphansDeleted: string[];
}

/**
 * Applies the retention rules to the cluster's backups (never deleting `protect`ed ids or the newest backup) and
 * removes orphaned files older than an hour. With `dryRun`, only says what it would do.
 */
export async function prune(
  ctx: CommandContext,
  repo: BackupRepository,
  opts: { protect?: Set<string>; dryRun?: boolean; now?: Date } = {},
): Promise<PruneResult> {
  const log = ctx.log.child({ component: 'retention' });
  const now = opts.now ?? new Date();
  const listing = await repo.list();
  for (const bad of listing.invalid) log.warn({ key: bad.key, error: bad.error }, 'unreadable manifest kept');
  const decisions = decideRetention(
    listing.backups.map((m) => ({ id: m.id, createdAt: new Date(m.createdAt) })),
    ctx.config.retention,
    now,
    opts.protect,
  );
  const result: PruneResult = { deleted: [], kept: [], orphansDeleted: [] };
  const byId = new Map(listing.backups.map((m) => [m.id, m]));
  for (const d of decisions) {
    if (d.keep) {
      result.kept.push(d.id);
      continue;
    }
    result.deleted.push(d.id);
    if (opts.dryRun) continue;
    await repo.delete(byId.get(d.id)!);
    log.info({ id: d.id }, 'backup deleted by retention');
  }
  for (const o of listing.orphans) {
    if (now.getTime() - o.lastModified.getTime() < ORPHAN_AGE_MS) continue;
    result.orphansDeleted.push(o.key);
    if (opts.dryRun) continue;
    await repo.deleteObject(o.key);
    log.info({ key: o.key }, 'orphaned file deleted');
  }
  if (hasRetentionRules(ctx.config.retention) || result.orphansDeleted.length > 0) {
    log.info({ kept: result.kept.length, deleted: result.deleted.length, orphansDeleted: result.orphansDeleted.length, dryRun: opts.dryRun === true }, 'retention applied');
  }
  return result;
}

/** `reshifter prune [--dry-run] [--json]`. */
export async function pruneCommand(ctx: CommandContext): Promise<void> {
  const repo = openRepository(ctx.config, ctx.log);
  try {
    const dryRun = ctx.args.flags['dry-run'] === true;
    const result = await prune(ctx, repo, { dryRun });
    if (ctx.args.flags.json) {
      ctx.print(JSON.stringify({ dryRun, ...result }));
      return;
    }
    const verb = dryRun ? 'would delete' : 'deleted';
    for (const id of result.deleted) ctx.print(`${verb}\t${id}`);
    for (const key of result.orphansDeleted) ctx.print(`${verb}\t${key} (orphaned file)`);
    ctx.print(`${result.kept.length} kept, ${result.deleted.length} ${verb}`);
  } finally {
    await repo.store.close();
  }
}
