import { counted } from '../core/counted.js';
import type { RetentionDecision } from '../core/retention.js';
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
    for (const [series, c] of counts) ctx.print(`${series}: ${c.kept} kept, ${c.deleted} ${verb}${byCluster(result.decisions, series, verb)}`);
    ctx.print(`${result.kept.length} kept, ${result.deleted.length} ${verb}`);
    // A second prune on the same local store deleted these first: this one neither deleted nor kept them.
    const gone = result.goneMeanwhile;
    if (gone.length > 0) ctx.print(`note: ${counted(gone.length, 'backup')} to delete ${gone.length === 1 ? 'was' : 'were'} deleted meanwhile by another reshifter on this store, not counted above: ${gone.join(', ')}`);
  } finally {
    await repo.store.close();
  }
}

/**
 * For a series whose backups are of more than one etcd cluster (each counted on its own by retention): the counts of
 * each, as ` (etcd cluster N: 2 kept, 1 deleted; etcd cluster M: 2 kept, 0 deleted)`; '' otherwise.
 */
function byCluster(decisions: readonly RetentionDecision[], series: string, verb: string): string {
  const counts = new Map<string, { kept: number; deleted: number }>();
  for (const d of decisions) {
    if (d.series !== series || d.etcdClusterId === undefined) continue;
    const c = counts.get(d.etcdClusterId) ?? { kept: 0, deleted: 0 };
    if (d.keep) c.kept++;
    else c.deleted++;
    counts.set(d.etcdClusterId, c);
  }
  if (counts.size < 2) return '';
  return ` (${[...counts].map(([id, c]) => `etcd cluster ${id}: ${c.kept} kept, ${c.deleted} ${verb}`).join('; ')})`;
}
