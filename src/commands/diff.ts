import { openBackupKeys } from '../archive/backup-keys.js';
import type { Manifest } from '../archive/manifest.js';
import { diffKeys, type DiffResult } from '../core/diff.js';
import { ConfigError } from '../core/errors.js';
import { USES } from '../core/latest.js';
import { DEFAULT_PREFIXES } from '../kube/index.js';
import { layoutPrefixes } from '../kube/resource-label.js';
import type { BackupRepository } from '../store/backup-repository.js';
import type { CommandContext } from './context.js';
import { codecKeys } from './keys.js';
import { seriesFlag } from './series-flag.js';
import { openRepository } from './shared.js';

/** Which backup a diff side is. */
export interface BackupRef {
  id: string;
  createdAt: string;
  strategy: string;
}

export interface BackupDiff extends DiffResult {
  from: BackupRef;
  to: BackupRef;
}

const refOf = (m: Manifest): BackupRef => ({ id: m.id, createdAt: m.createdAt, strategy: m.strategy });

/**
 * What changed between two backups (snapshots and key dumps alike): each is checked against its manifest and read
 * key by key from a private temporary copy, and the two sorted key streams are merged. Temporary files are removed
 * whatever happens.
 */
export async function diffBackups(ctx: CommandContext, repo: BackupRepository, from: Manifest, to: Manifest, opts: { limit?: number } = {}): Promise<BackupDiff> {
  const { config, signal } = ctx;
  const keys = await codecKeys(config, { forReading: true });
  const a = await openBackupKeys(await repo.openArtifact(from, signal), from, keys, signal);
  try {
    const b = await openBackupKeys(await repo.openArtifact(to, signal), to, keys, signal);
    try {
      const known = [...new Set([...config.selection.prefixes, ...(a.prefixes ?? []), ...(b.prefixes ?? [])])];
      const prefixes = known.length > 0 ? layoutPrefixes(known, DEFAULT_PREFIXES) : DEFAULT_PREFIXES;
      const result = await diffKeys(a.keys, b.keys, { prefixes, ...(opts.limit !== undefined && { limit: opts.limit }) });
      ctx.log.info({ from: from.id, to: to.id, ...result.summary }, 'backups compared');
      return { from: refOf(from), to: refOf(to), ...result };
    } finally {
      await b.close();
    }
  } finally {
    await a.close();
  }
}

/** The diff as text: one line per resource and namespace, the objects, then the totals. */
export function formatDiff(d: BackupDiff): string[] {
  const lines: string[] = [];
  if (d.groups.length > 0) {
    const rows = [['RESOURCE', 'NAMESPACE', 'ADDED', 'REMOVED', 'CHANGED']];
    for (const g of d.groups) rows.push([g.resource, g.namespace ?? '-', String(g.added), String(g.removed), String(g.changed)]);
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    for (const r of rows) lines.push(r.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
    lines.push('');
    const sign = { added: '+', removed: '-', changed: '~' } as const;
    for (const o of d.objects) lines.push(`${sign[o.change]} ${o.key}`);
    if (d.truncated) lines.push(`... and more (${d.summary.added + d.summary.removed + d.summary.changed - d.objects.length} not listed)`);
    lines.push('');
  }
  const s = d.summary;
  lines.push(`${s.added} added, ${s.removed} removed, ${s.changed} changed, ${s.unchanged} unchanged from ${d.from.id} to ${d.to.id}`);
  return lines;
}

/**
 * `reshifter diff <from> <to> [--strategy S] [--json]`: what changed between two backups. `latest` (for either) is
 * the newest snapshot or key dump (of series S), since render listings hold no values to compare.
 */
export async function diffCommand(ctx: CommandContext): Promise<void> {
  const [fromId, toId, ...rest] = ctx.args.positionals;
  if (fromId === undefined || toId === undefined || rest.length > 0) {
    throw new ConfigError(['diff needs two backup ids: reshifter diff <from> <to> ("reshifter list" shows them; "latest" is the newest snapshot or key dump)']);
  }
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
