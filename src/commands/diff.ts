import { USES } from '../core/latest.js';
import { diffTargets, type BackupDiff, type DiffTarget } from '../ops/diff.js';
import { openRepository } from '../ops/repository.js';
import { checkBackupIds } from '../store/backup-repository.js';
import type { CommandContext } from './context.js';
import { seriesFlag } from './flags.js';
import { isFile } from '../ops/open-snapshot.js';
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
  lines.push(`${s.added} added, ${s.removed} removed, ${s.changed} changed, ${s.unchanged} unchanged from ${printable(d.from.id)} to ${printable(d.to.id)}`);
  // A key dump holds only its prefixes, a filtered one only its resources and namespaces: what lies beyond them in
  // the other backup was not compared, and is said apart.
  const pair = `${printable(d.from.id)} (${d.from.strategy}) and ${printable(d.to.id)} (${d.to.strategy})`;
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
  if (d.keyspaces !== undefined) {
    const { from, to } = d.keyspaces;
    lines.push(`note: ${printable(d.from.id)} holds etcd's ${from} keyspace and ${printable(d.to.id)} its ${to} keyspace, which etcd keeps apart: keys were compared by name across them (as after etcdctl migrate), so a key of one keyspace alone counts as added or removed`);
  }
  return lines;
}

/**
 * `reshifter diff <from> <to> [--strategy S] [--json]`: what changed between two backups, or snapshot files on this
 * machine (etcdctl's, k3s's: a path that is a file, as `stats FILE` tells them), either side. `latest` (for either) is
 * the newest snapshot or key dump (of series S), since render listings hold no values to compare. Two files are
 * compared without the store.
 */
export async function diffCommand(ctx: CommandContext): Promise<void> {
  // Two, as the command table requires.
  const given = ctx.args.positionals as [string, string];
  const files = await Promise.all(given.map((g) => isFile(g)));
  // Both ids, before either is looked up: a bad second id is said at once, not after the first was fetched.
  checkBackupIds(given.filter((_, i) => !files[i]));
  const repo = files.every(Boolean) ? undefined : openRepository(ctx.config, ctx.log);
  try {
    const series = seriesFlag(ctx);
    const target = async (g: string, file: boolean | undefined): Promise<DiffTarget> => (file ? { file: g } : repo!.getWhole(g, USES.diff, series));
    const from = await target(given[0], files[0]);
    const to = await target(given[1], files[1]);
    // The CLI lists every object; the API caps the list.
    const d = await diffTargets(ctx, repo, from, to, { limit: Number.MAX_SAFE_INTEGER });
    if (ctx.args.flags.json) ctx.print(JSON.stringify(d, null, 2));
    else for (const line of formatDiff(d)) ctx.print(line);
  } finally {
    await repo?.store.close();
  }
}
