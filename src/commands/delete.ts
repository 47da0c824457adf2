import { UsageError } from '../core/errors.js';
import { deleteBackups } from '../ops/delete.js';
import { openRepository } from '../ops/repository.js';
import { checkBackupIds } from '../store/backup-repository.js';
import type { CommandContext } from './context.js';

/**
 * `reshifter delete <id>... [--dry-run] [--force] [--json]` (also `backup delete`): one line per backup deleted (or
 * that would be), then the count. Exact ids only: `latest` changes meaning as backups come and go.
 */
export async function deleteCommand(ctx: CommandContext): Promise<void> {
  const ids = ctx.args.positionals;
  if (ids.includes('latest')) throw new UsageError(['delete takes exact backup ids, not "latest" ("reshifter list" shows them)']);
  checkBackupIds(ids, { latest: false });
  const dryRun = ctx.args.flags['dry-run'] === true;
  const repo = openRepository(ctx.config, ctx.log);
  try {
    const result = await deleteBackups(ctx, repo, ids, { dryRun, force: ctx.args.flags.force === true });
    if (ctx.args.flags.json) {
      ctx.print(JSON.stringify(result));
      return;
    }
    const verb = dryRun ? 'would delete' : 'deleted';
    for (const d of result.deleted) {
      ctx.print(`${verb}\t${d.id}\t${d.series}`);
      for (const dep of d.dependents) ctx.print(`${verb}\t${dep}\t(depends on ${d.id})`);
    }
    const n = result.deleted.reduce((sum, d) => sum + 1 + d.dependents.length, 0);
    ctx.print(dryRun ? `dry run: would delete ${n} backup${n === 1 ? '' : 's'}; nothing was deleted` : `${n} backup${n === 1 ? '' : 's'} deleted`);
  } finally {
    await repo.store.close();
  }
}
