import { counted } from '../core/counted.js';
import { prune, seriesCounts } from '../ops/prune.js';
import { openRepository } from '../ops/repository.js';
import type { CommandContext } from './context.js';
import { seriesFlag } from './flags.js';

/**
 * `reshifter prune [--strategy S] [--dry-run] [--json]`: every series, or series S; one line per deleted backup with
 * its series (with `--dry-run` also one per kept backup, with why), then the counts per series and in all.
 */
export async function pruneCommand(ctx: CommandContext): Promise<void> {
  const repo = openRepository(ctx.config, ctx.log);
  try {
    const dryRun = ctx.args.flags['dry-run'] === true;
    const series = seriesFlag(ctx);
    const result = await prune(ctx, repo, { dryRun, ...(series !== undefined && { series: [series] }) });
    if (ctx.args.flags.json) {
      ctx.print(JSON.stringify({ dryRun, ...result }));
      return;
    }
    const verb = dryRun ? 'would delete' : 'deleted';
    const counts = seriesCounts(result.decisions);
    for (const [series] of counts) {
      for (const d of result.decisions.filter((x) => x.series === series)) {
        if (!d.keep) ctx.print(`${verb}\t${d.id}\t${series}`);
        else if (dryRun) ctx.print(`keep\t${d.id}\t${series}\t${d.reasons.join(',')}`);
      }
    }
    for (const key of result.orphansDeleted) ctx.print(`${verb}\t${key} (orphaned file)`);
    for (const [series, c] of counts) ctx.print(`${series}: ${c.kept} kept, ${c.deleted} ${verb}`);
    ctx.print(`${result.kept.length} kept, ${result.deleted.length} ${verb}`);
    // A second prune on the same local store deleted these first: this one neither deleted nor kept them.
    const gone = result.goneMeanwhile;
    if (gone.length > 0) ctx.print(`note: ${counted(gone.length, 'backup')} to delete ${gone.length === 1 ? 'was' : 'were'} deleted meanwhile by another reshifter on this store, not counted above: ${gone.join(', ')}`);
  } finally {
    await repo.store.close();
  }
}
