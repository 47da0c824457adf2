import { NotFoundError } from '../core/errors.js';
import { buildSelection, selectKey, selectsEverything } from '../core/key-selection.js';
import { prefixRanges } from '../etcd/key-ranges.js';
import { AUDIT_COLUMNS, auditRow, auditRowText, type AuditRow } from '../kube/audit-row.js';
import { DEFAULT_PREFIXES, decodeValue, parseKey } from '../kube/index.js';
import { layoutPrefixes, resourceLabel } from '../kube/resource-label.js';
import type { LiveKey, SnapshotReader } from '../snapshot/index.js';
import type { CommandContext } from './context.js';
import { liveKeysIn } from './snapshot-input.js';

/** `inspect --keys`: one live key with etcd's bookkeeping and what it is in Kubernetes terms. */
export interface InspectKeyRow extends AuditRow {
  createRevision: number;
  modRevision: number;
  version: number;
  /** Lease id (decimal) when the key has one. */
  lease?: string;
}

/** What `inspect --keys`, `--get` and `--render` print. */
export type InspectKeysRequest =
  | { mode: 'keys' | 'render'; json: boolean; prefix?: string; revision?: number }
  | { mode: 'get'; key: string; raw: boolean; revision?: number; where: string };

interface InspectOptions {
  json: boolean;
  prefix?: string;
  revision?: number;
  layout: readonly string[];
}

/**
 * The key modes of `inspect` (the status lives in inspect.ts): loaded only for them, as they need the Kubernetes
 * decoders and the snapshot's key reader, which a status does not.
 */
export async function inspectKeys(ctx: CommandContext, reader: SnapshotReader, req: InspectKeysRequest): Promise<void> {
  const prefixes = ctx.config.selection.prefixes.length > 0 ? ctx.config.selection.prefixes : DEFAULT_PREFIXES;
  const opts: InspectOptions = {
    json: req.mode !== 'get' && req.json,
    ...(req.mode !== 'get' && req.prefix !== undefined && { prefix: req.prefix }),
    ...(req.revision !== undefined && { revision: req.revision }),
    layout: layoutPrefixes(prefixes, DEFAULT_PREFIXES),
  };
  if (req.mode === 'keys') await printKeys(ctx, reader, opts);
  else if (req.mode === 'get') await printKey(ctx, reader, req.key, req.raw, opts, req.where);
  else await printRender(ctx, reader, prefixes, opts);
}

/** Lease ids are 64-bit: decimal text, as etcdctl prints them. */
function keyRow(kv: LiveKey, layout: readonly string[]): InspectKeyRow {
  return {
    ...auditRow(kv.key, kv.value, layout, kv.modRevision),
    createRevision: kv.createRevision,
    modRevision: kv.modRevision,
    version: kv.version,
    ...(kv.lease !== 0n && { lease: kv.lease.toString() }),
  };
}

const KEY_COLUMNS = ['KEY', 'MODREV', 'SIZE', 'KIND', 'NAMESPACE', 'NAME', 'ENCODING'];

function keyRowText(r: InspectKeyRow): string {
  const enc = r.encryption ? `${r.encoding}(${r.encryption})` : r.encoding;
  return [r.key, String(r.modRevision), String(r.size), r.kind, r.namespace, r.name, enc]
    .map((c) => (c === undefined || c === '' ? '-' : c.replace(/[\t\n\r]/g, ' ')))
    .join('\t');
}

/** Live keys, streamed: as text rows, or as one JSON document written row by row (memory does not grow with it). */
async function printKeys(ctx: CommandContext, reader: SnapshotReader, opts: InspectOptions): Promise<void> {
  const keys = reader.liveKeys({ ...(opts.prefix !== undefined && { prefix: opts.prefix }), ...(opts.revision !== undefined && { revision: opts.revision }) });
  const head = opts.json ? `{"revision":${opts.revision ?? 'null'},"prefix":${JSON.stringify(opts.prefix ?? '')},"keys":[` : KEY_COLUMNS.join('\t');
  // The head is printed once the scan has started, so an error (a compacted revision) leaves no half output.
  let opened = false;
  let pending: string | undefined;
  for await (const kv of keys) {
    if (!opened) ctx.print(head);
    opened = true;
    if (!opts.json) {
      ctx.print(keyRowText(keyRow(kv, opts.layout)));
      continue;
    }
    if (pending !== undefined) ctx.print(`${pending},`);
    pending = JSON.stringify(keyRow(kv, opts.layout));
  }
  if (!opened) ctx.print(head);
  if (pending !== undefined) ctx.print(pending);
  if (opts.json) ctx.print(']}');
}

/** One key: its decoded metadata as JSON, or (`--raw`) its value's bytes. */
async function printKey(ctx: CommandContext, reader: SnapshotReader, key: string, raw: boolean, opts: InspectOptions, where: string): Promise<void> {
  const wanted = Buffer.from(key);
  let found: LiveKey | undefined;
  for await (const kv of reader.liveKeys({ prefix: wanted, ...(opts.revision !== undefined && { revision: opts.revision }) })) {
    if (kv.key.equals(wanted)) found = kv;
  }
  if (found === undefined) {
    throw new NotFoundError(`key ${JSON.stringify(key)} is not in ${where}${opts.revision !== undefined ? ` at revision ${opts.revision}` : ''}`);
  }
  if (raw) {
    await ctx.write!(found.value);
    return;
  }
  const decoded = decodeValue(found.value);
  ctx.print(JSON.stringify({
    key,
    createRevision: found.createRevision,
    modRevision: found.modRevision,
    version: found.version,
    ...(found.lease !== 0n && { lease: found.lease.toString() }),
    size: found.value.length,
    resource: resourceLabel(parseKey(found.key, opts.layout)),
    ...decoded,
  }, null, 2));
}

/** The audit listing of the `render` strategy, from the snapshot: text rows, or (`--json`) the listing's JSON lines. */
async function printRender(ctx: CommandContext, reader: SnapshotReader, prefixes: readonly string[], opts: InspectOptions): Promise<void> {
  const selection = buildSelection(ctx.config.selection);
  const everything = selectsEverything(selection);
  if (!opts.json) ctx.print(AUDIT_COLUMNS.join('\t'));
  const ranges = opts.prefix !== undefined ? [{ prefix: opts.prefix, start: Buffer.from(opts.prefix) }] : prefixRanges(prefixes);
  for await (const kv of liveKeysIn(reader, ranges, opts.revision)) {
    if (!everything && !selectKey(parseKey(kv.key, opts.layout), selection)) continue;
    const row = auditRow(kv.key, kv.value, opts.layout, kv.modRevision);
    ctx.print(opts.json ? JSON.stringify(row) : auditRowText(row));
  }
}
