import { ConfigError, NotFoundError } from '../core/errors.js';
import { buildSelection, selectKey, selectsEverything } from '../core/key-selection.js';
import { prefixRanges } from '../etcd/key-ranges.js';
import { AUDIT_COLUMNS, auditRow, auditRowText, type AuditRow } from '../kube/audit-row.js';
import { DEFAULT_PREFIXES, decodeValue, parseKey } from '../kube/index.js';
import { layoutPrefixes, resourceLabel } from '../kube/resource-label.js';
import { formatBytes } from '../progress.js';
import type { LiveKey, SnapshotReader, SnapshotStatus } from '../snapshot/index.js';
import type { CommandContext } from './context.js';
import { openSnapshotInput, snapshotError, type SnapshotOrigin } from './snapshot-input.js';

/** `inspect --keys`: one live key with etcd's bookkeeping and what it is in Kubernetes terms. */
export interface InspectKeyRow extends AuditRow {
  createRevision: number;
  modRevision: number;
  version: number;
  /** Lease id (decimal) when the key has one. */
  lease?: string;
}

interface InspectOptions {
  json: boolean;
  prefix?: string;
  revision?: number;
  layout: readonly string[];
}

function origin(o: SnapshotOrigin): string {
  return o.kind === 'file' ? `file ${o.path}` : `backup ${o.id} (${o.strategy}, revision ${o.revision})`;
}

function parseRevision(v: string | boolean | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n <= 0) throw new ConfigError([`--revision was invalid: ${JSON.stringify(v)} is not a positive revision number`]);
  return n;
}

function stringFlag(ctx: CommandContext, name: string): string | undefined {
  const v = ctx.args.flags[name];
  if (v === true) throw new ConfigError([`--${name} needs a value`]);
  return v === false ? undefined : v;
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

/**
 * `reshifter inspect <id|latest|file> [--json]`: reads an etcd snapshot offline, from a file (with or without
 * etcd's sha256 trailer) or a stored snapshot backup (downloaded and decoded to a private temporary file, deleted
 * afterwards). Prints the status as `etcdctl snapshot status -w json` computes it, and the trailer's state.
 * `--keys [--prefix P] [--revision R]` lists the live keys; `--get KEY [--raw]` shows one; `--render` prints the
 * audit listing of the `render` strategy (RS_INCLUDE_/EXCLUDE_* filters apply).
 */
export async function inspectCommand(ctx: CommandContext): Promise<void> {
  const { positionals, flags } = ctx.args;
  const target = positionals[0];
  if (target === undefined) throw new ConfigError(['inspect needs a snapshot file or a backup id (or "latest"): reshifter inspect <id|file>']);
  if (positionals.length > 1) throw new ConfigError([`inspect takes one snapshot, got ${positionals.length}: ${positionals.join(' ')}`]);
  const get = stringFlag(ctx, 'get');
  const prefix = stringFlag(ctx, 'prefix');
  const revision = parseRevision(flags.revision);
  const modes = (['keys', 'get', 'render'] as const).filter((m) => flags[m] !== undefined);
  if (modes.length > 1) throw new ConfigError([`--${modes.join(', --')} cannot be combined: pick one`]);
  const mode: 'status' | (typeof modes)[number] = modes.length > 0 ? modes[0]! : 'status';
  if (flags.raw === true && mode !== 'get') throw new ConfigError(['--raw prints the value of one key: use it with --get KEY']);
  if (mode === 'status' && (prefix !== undefined || revision !== undefined)) {
    throw new ConfigError(['--prefix and --revision select keys: use them with --keys, --get or --render']);
  }
  if (mode === 'get' && prefix !== undefined) throw new ConfigError(['--prefix does not apply to --get KEY']);
  if (flags.raw === true && ctx.write === undefined) throw new ConfigError(['--raw needs a standard output to write bytes to']);
  const prefixes = ctx.config.selection.prefixes.length > 0 ? ctx.config.selection.prefixes : DEFAULT_PREFIXES;
  const opts: InspectOptions = {
    json: flags.json === true,
    ...(prefix !== undefined && { prefix }),
    ...(revision !== undefined && { revision }),
    layout: layoutPrefixes(prefixes, DEFAULT_PREFIXES),
  };

  const input = await openSnapshotInput(ctx, target);
  const where = input.origin.kind === 'file' ? input.origin.path : `backup ${input.origin.id}`;
  try {
    if (mode === 'status') printStatus(ctx, input.origin, await input.reader.status(), opts.json);
    else if (mode === 'keys') await printKeys(ctx, input.reader, opts);
    else if (mode === 'get') await printKey(ctx, input.reader, get!, flags.raw === true, opts, where);
    else await printRender(ctx, input.reader, prefixes, opts);
  } catch (err) {
    throw snapshotError(err, where);
  } finally {
    await input.close();
  }
}

function printStatus(ctx: CommandContext, from: SnapshotOrigin, s: SnapshotStatus, json: boolean): void {
  const trailer = { present: s.trailer !== 'absent', ...(s.trailer !== 'absent' && { match: s.trailer === 'match' }) };
  if (json) {
    ctx.print(JSON.stringify({ source: from, hash: s.hash, revision: s.revision, totalKey: s.totalKey, totalSize: s.totalSize, trailer }));
    return;
  }
  ctx.print(`source:     ${origin(from)}`);
  ctx.print(`hash:       ${s.hash.toString(16)} (${s.hash})`);
  ctx.print(`revision:   ${s.revision}`);
  ctx.print(`total keys: ${s.totalKey}`);
  ctx.print(`total size: ${formatBytes(s.totalSize)} (${s.totalSize} bytes)`);
  const state = s.trailer === 'absent'
    ? 'absent (a raw bbolt file, or the trailer was cut off)'
    : s.trailer === 'match' ? 'present, matches the data' : 'present, DOES NOT MATCH the data (the file was changed or damaged)';
  ctx.print(`sha256:     ${state}`);
  if (s.trailer === 'mismatch') ctx.log.warn({ trailer: s.trailer }, 'snapshot sha256 trailer does not match');
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
  for (const range of ranges) {
    const scan = { ...(range.prefix !== '/' && { prefix: range.start }), ...(opts.revision !== undefined && { revision: opts.revision }) };
    for await (const kv of reader.liveKeys(scan)) {
      if (!everything && !selectKey(parseKey(kv.key, opts.layout), selection)) continue;
      const row = auditRow(kv.key, kv.value, opts.layout, kv.modRevision);
      ctx.print(opts.json ? JSON.stringify(row) : auditRowText(row));
    }
  }
}
