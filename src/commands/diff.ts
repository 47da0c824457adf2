import { USES } from '../core/latest.js';
import { diffBackups, type BackupDiff } from '../ops/diff.js';
import { openRepository } from '../ops/repository.js';
import { checkBackupIds } from '../store/backup-repository.js';
import type { CommandContext } from './context.js';
import { seriesFlag } from './flags.js';
import { textTable } from './text-table.js';
import { counted } from '../core/counted.js';
import { printable, printedKey } from '../core/printable.js';

/** The diff as text: one line per resource and namespace, the objects, then the totals. */
export function formatDiff(d: BackupDiff): string[] {
  const lines: string[] = [];
  if (d.groups.length > 0) {
    const rows = [['RESOURCE', 'NAMESPACE', 'ADDED', 'REMOVED', 'CHANGED']];
    for (const g of d.groups) rows.push([printable(g.resource), g.namespace !== undefined ? printable(g.namespace) : '-', String(g.added), String(g.removed), String(g.changed)]);
    lines.push(...textTable(rows, 2), '');
    const sign = { added: '+', removed: '-', changed: '~' } as const;
    for (const o of d.objects) lines.push(`${sign[o.change]} ${printedKey(o)}`);
    if (d.truncated) lines.push(`... and more (${d.summary.added + d.summary.removed + d.summary.changed - d.objects.length} not listed)`);
    lines.push('');
  }
  const s = d.summary;
  lines.push(`${s.added} added, ${s.removed} removed, ${s.changed} changed, ${s.unchanged} unchanged from ${d.from.id} to ${d.to.id}`);
  // A key dump holds only its prefixes, a filtered one only its resources and namespaces: what lies beyond them in
  // the other backup was not compared, and is said apart.
  const pair = `${d.from.id} (${d.from.strategy}) and ${d.to.id} (${d.to.strategy})`;
  const apart = `${counted(s.outside, 'key')} held by one backup alone ${s.outside === 1 ? 'is' : 'are'} not counted above`;
  if (d.filtered !== undefined) {
    const which = d.filtered.length === 2 ? 'each holds' : `${d.filtered[0]} holds`;
    const under = d.scope !== undefined && d.scope.length > 0 ? ` under ${d.scope.join(', ')}` : '';
    lines.push(`note: ${pair} hold different keys (${which} only the resources and namespaces its filters selected): only the keys both can hold${under} were compared${s.outside > 0 ? `; ${apart}` : ''}`);
  } else if (s.outside > 0 && d.scope !== undefined) {
    const what = d.scope.length === 0
      ? `they hold no prefix in common, so no key was compared (${counted(s.outside, 'key')} held by one backup alone)`
      : `only the keys under ${d.scope.join(', ')} were compared; ${counted(s.outside, 'key')} held by one backup alone, outside ${d.scope.length === 1 ? 'it' : 'them'}, ${s.outside === 1 ? 'is' : 'are'} not counted above`;
    lines.push(`note: ${pair} hold different keys (a key dump holds only its prefixes, a snapshot every key): ${what}`);
  }
  return lines;
}

/**
 * `reshifter diff <from> <to> [--strategy S] [--json]`: what changed between two backups. `latest` (for either) is
 * the newest snapshot or key dump (of series S), since render listings hold no values to compare.
 */
export async function diffCommand(ctx: CommandContext): Promise<void> {
  // Two ids, as the command table requires.
  const [fromId, toId] = ctx.args.positionals as [string, string];
  // Both, before either is looked up: a bad second id is said at once, not after the first was fetched.
  checkBackupIds([fromId, toId]);
  const repo = openRepository(ctx.config, ctx.log);
  try {
    const series = seriesFlag(ctx);
    const from = await repo.get(fromId, USES.diff, series);
    const to = await repo.get(toId, USES.diff, series);
    // The CLI lists every object; the API caps the list.
    const d = await diffBackups(ctx, repo, from, to, { limit: Number.MAX_SAFE_INTEGER });
    if (ctx.args.flags.json) ctx.print(JSON.stringify(d, null, 2));
    else for (const line of formatDiff(d)) ctx.print(line);
  } finally {
    await repo.store.close();
  }
}
