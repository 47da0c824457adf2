import { KEY_DUMP_CONTENT_TYPE } from '../archive/key-dump-format.js';
import { readKeyDump } from '../archive/key-dump-reader.js';
import { assertDecodable, copyVerified, type VerifiedCopy } from '../archive/local-copy.js';
import { RENDER_CONTENT_TYPE, readRenderListing } from '../archive/render-listing.js';
import { decodeSnapshotCopy } from '../archive/snapshot-file.js';
import { OperationError } from '../core/errors.js';
import { USES } from '../core/latest.js';
import { buildSelection, selectKey, selectsEverything } from '../core/key-selection.js';
import { openKeyReader } from '../etcd/key-reader.js';
import { prefixRanges } from '../etcd/key-ranges.js';
import { auditRow, auditRowText, AUDIT_COLUMNS, type AuditRow } from '../kube/audit-row.js';
import { DEFAULT_PREFIXES, parseKey } from '../kube/index.js';
import { CLUSTER_SCOPED, KeyStats, NO_NAMESPACE, statsEntryOf, type StatsReport, type Tally } from '../kube/key-stats.js';
import { layoutPrefixes } from '../kube/resource-label.js';
import { formatBytes, reportProgress } from '../progress.js';
import { openSnapshot } from '../snapshot/index.js';
import type { CodecKeys } from '../archive/codec.js';
import type { CommandContext } from './context.js';
import { codecKeys } from './keys.js';
import { seriesFlag } from './series-flag.js';
import { openRepository, withEtcd } from './shared.js';
import { snapshotError } from '../archive/snapshot-error.js';
import { liveKeysIn } from './snapshot-input.js';

/** Where the numbers came from. */
export interface StatsSource {
  kind: 'live' | 'backup';
  endpoints?: string[];
  id?: string;
  strategy?: string;
  apiVersion: 'v2' | 'v3';
  revision: number;
  prefixes: string[];
}

/** A key as stats sees it: its bytes and value, or (from a render listing) the row only. */
type Visit = (key: Buffer, value: Buffer, modRevision?: number) => void;

/**
 * `reshifter stats [<id>|latest] [--strategy S] [--keys] [--json]`: keys and bytes per prefix, resource, namespace
 * and value encoding, from the live etcd or from a stored backup (checked against its manifest first; `latest` is
 * the newest snapshot, key dump or render listing, of series S). `--keys` also lists every key (the render
 * listing). RS_INCLUDE_/EXCLUDE_* filters apply.
 */
export async function statsCommand(ctx: CommandContext): Promise<void> {
  const id = ctx.args.positionals[0];
  const json = ctx.args.flags.json === true;
  const listKeys = ctx.args.flags.keys === true;
  const stats = new KeyStats();
  const selection = buildSelection(ctx.config.selection);
  const everything = selectsEverything(selection);
  const rows: string[] = [];
  const printRow = (row: AuditRow) => {
    // With --json, keys go into the one JSON document; as text they stream out before the tables.
    if (json) rows.push(JSON.stringify(row));
    else ctx.print(auditRowText(row));
  };
  if (listKeys && !json) ctx.print(AUDIT_COLUMNS.join('\t'));
  const visitor = (layout: readonly string[]): Visit => (key, value, modRevision) => {
    const parsed = parseKey(key, layout);
    if (!everything && !selectKey(parsed, selection)) return;
    stats.add(statsEntryOf(key, value, layout));
    if (listKeys) printRow(auditRow(key, value, layout, modRevision));
  };
  const source = id === undefined ? await liveStats(ctx, visitor) : await backupStats(ctx, id, visitor, (row, layout) => {
    const parsed = parseKey(row.keyBase64 !== undefined ? Buffer.from(row.keyBase64, 'base64') : row.key, layout);
    if (!everything && !selectKey(parsed, selection)) return;
    const keyBytes = row.keyBase64 !== undefined ? Buffer.from(row.keyBase64, 'base64').length : Buffer.byteLength(row.key);
    stats.add({
      prefix: parsed.prefix ?? NO_NAMESPACE,
      resource: row.resource,
      namespace: parsed.namespace ?? (parsed.type === 'object' ? CLUSTER_SCOPED : NO_NAMESPACE),
      encoding: row.encoding,
      keyBytes,
      valueBytes: row.size,
    });
    if (listKeys) printRow(row);
  });
  const report = stats.report();
  if (json) {
    ctx.print(JSON.stringify({ source, ...report, ...(listKeys && { keyList: rows.map((r) => JSON.parse(r) as AuditRow) }) }, null, 2));
    return;
  }
  for (const line of formatStats(source, report)) ctx.print(line);
}

async function liveStats(ctx: CommandContext, visitor: (layout: readonly string[]) => Visit): Promise<StatsSource> {
  return withEtcd(ctx.config, async (etcd) => {
    const reader = await openKeyReader(ctx.config, etcd, ctx.log);
    try {
      const visit = visitor(layoutPrefixes(reader.prefixes, DEFAULT_PREFIXES));
      let keys = 0;
      let bytes = 0;
      const stopProgress = reportProgress(ctx.log, 'stats', () => ({ bytes, keys }));
      try {
        for await (const page of reader.pages()) {
          for (const r of page) {
            visit(r.key, r.value, r.modRevision);
            keys++;
            bytes += r.key.length + r.value.length;
          }
        }
      } finally {
        stopProgress();
      }
      return { kind: 'live', endpoints: ctx.config.etcd.endpoints, apiVersion: reader.apiVersion, revision: reader.revision, prefixes: reader.prefixes };
    } finally {
      reader.close();
    }
  });
}

async function backupStats(
  ctx: CommandContext,
  id: string,
  visitor: (layout: readonly string[]) => Visit,
  onRow: (row: AuditRow, layout: readonly string[]) => void,
): Promise<StatsSource> {
  const repo = openRepository(ctx.config, ctx.log);
  try {
    const m = await repo.get(id, USES.stats, seriesFlag(ctx));
    const keys = await codecKeys(ctx.config, { forReading: true });
    assertDecodable(m, keys);
    const copy = await copyVerified(await repo.openArtifact(m, ctx.signal), m, ctx.signal);
    try {
      const source: StatsSource = { kind: 'backup', id: m.id, strategy: m.strategy, apiVersion: m.etcd.apiVersion, revision: m.etcd.revision, prefixes: m.prefixes ?? [] };
      if (m.contentType === KEY_DUMP_CONTENT_TYPE) {
        let visit: Visit | undefined;
        for await (const item of readKeyDump(copy.open(keys))) {
          if (item.type === 'header') {
            source.prefixes = item.header.prefixes;
            visit = visitor(layoutPrefixes(item.header.prefixes, DEFAULT_PREFIXES));
          } else visit!(item.record.key, item.record.value, item.record.modRevision);
        }
        return source;
      }
      if (m.contentType === RENDER_CONTENT_TYPE) {
        const layout = layoutPrefixes(m.prefixes ?? DEFAULT_PREFIXES, DEFAULT_PREFIXES);
        for await (const row of readRenderListing(copy.open(keys))) onRow(row, layout);
        return source;
      }
      if (m.contentType === 'etcd-snapshot') {
        const prefixes = ctx.config.selection.prefixes.length > 0 ? ctx.config.selection.prefixes : [...DEFAULT_PREFIXES];
        source.prefixes = prefixes;
        await snapshotKeys(copy, keys, prefixes, visitor(layoutPrefixes(prefixes, DEFAULT_PREFIXES)), `backup ${m.id}`);
        return source;
      }
      throw new OperationError(`backup ${m.id} holds ${m.contentType}, which stats cannot read`);
    } finally {
      await copy.remove();
    }
  } finally {
    await repo.store.close();
  }
}

/**
 * Live keys of a snapshot backup under the prefixes, read offline from the decoded snapshot file. The reader finds
 * a damaged page only when the walk reaches it: its errors name the backup (`what`), as any other read error does.
 */
async function snapshotKeys(copy: VerifiedCopy, keys: CodecKeys, prefixes: readonly string[], visit: Visit, what: string): Promise<void> {
  const db = await decodeSnapshotCopy(copy, keys);
  try {
    const reader = await openSnapshot(db);
    try {
      // The latest state of the snapshot: it holds at least the manifest's revision, maybe a little more.
      for await (const kv of liveKeysIn(reader, prefixRanges(prefixes))) visit(kv.key, kv.value, kv.modRevision);
    } finally {
      await reader.close();
    }
  } catch (err) {
    throw snapshotError(err, what);
  }
}

function table(title: string, groups: Record<string, Tally>): string[] {
  const rows = [[title, 'KEYS', 'BYTES']];
  for (const [name, t] of Object.entries(groups)) rows.push([name, String(t.keys), formatBytes(t.bytes)]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return ['', ...rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '))];
}

/** The report as text: where from, totals, then one table per grouping. */
export function formatStats(source: StatsSource, r: StatsReport): string[] {
  const from = source.kind === 'live' ? `etcd ${source.endpoints!.join(',')}` : `backup ${source.id} (${source.strategy})`;
  return [
    `source:   ${from}, API ${source.apiVersion}, revision ${source.revision}`,
    `prefixes: ${source.prefixes.join(', ') || '-'}`,
    `keys:     ${r.keys} (${formatBytes(r.keyBytes + r.valueBytes)}: keys ${formatBytes(r.keyBytes)}, values ${formatBytes(r.valueBytes)})`,
    ...table('PREFIX', r.byPrefix),
    ...table('RESOURCE', r.byResource),
    ...table('NAMESPACE', r.byNamespace),
    ...table('ENCODING', r.byEncoding),
  ];
}
