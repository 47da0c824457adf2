import { seriesOf } from '../core/series.js';
import { formatBytes } from '../progress.js';
import type { CommandContext } from './context.js';
import { seriesFlag } from './series-flag.js';
import { openRepository } from './shared.js';

/** `reshifter list [--strategy S] [--json]`: the cluster's backups (of series S), newest first. */
export async function listCommand(ctx: CommandContext): Promise<void> {
  const repo = openRepository(ctx.config, ctx.log);
  try {
    const series = seriesFlag(ctx);
    const { backups: all, invalid } = await repo.list();
    const backups = series === undefined ? all : all.filter((m) => seriesOf(m) === series);
    for (const bad of invalid) ctx.log.warn({ key: bad.key, error: bad.error }, 'unreadable manifest skipped');
    if (ctx.args.flags.json) {
      ctx.print(JSON.stringify(backups, null, 2));
      return;
    }
    if (backups.length === 0) {
      const of = series === undefined ? '' : ` of series "${series}"`;
      ctx.print(`no backups${of} of cluster "${ctx.config.cluster}" in ${repo.store.location}`);
      return;
    }
    const rows = [['ID', 'CREATED', 'STRATEGY', 'SIZE', 'REVISION', 'KEYS', 'ENCRYPTION']];
    for (const m of backups) {
      rows.push([m.id, m.createdAt, m.strategy, formatBytes(m.sizeBytes), String(m.etcd.revision), m.keys === undefined ? '-' : String(m.keys), m.encryption]);
    }
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    for (const r of rows) ctx.print(r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
  } finally {
    await repo.store.close();
  }
}
