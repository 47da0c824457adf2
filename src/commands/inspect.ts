import { stat } from 'node:fs/promises';
import { UsageError, describeError } from '../core/errors.js';
import type { AuditRow } from '../kube/audit-row.js';
import type { InspectKeyRow } from '../ops/inspect-keys.js';
import type { KeysInput, SnapshotInput, SnapshotOrigin } from '../ops/open-snapshot.js';
import { formatBytes } from '../progress.js';
import type { SnapshotStatus } from '../snapshot/index.js';
// Not through snapshot/index.js, which loads the whole reader: see statusAhead.
import { prepareTrailerCheck } from '../snapshot/trailer.js';
import { rowPacer, type CommandContext } from './context.js';
import { seriesFlag, stringFlag } from './flags.js';
import { printable, printedKey } from '../core/printable.js';
import { parseStrategy } from '../core/strategy.js';

/** What `inspect` was asked for: the status, or one of the key modes with its options. */
type InspectRequest =
  | { mode: 'status'; json: boolean }
  | { mode: 'keys' | 'render'; json: boolean; prefix?: string; revision?: number }
  | { mode: 'get'; key: string; raw: boolean; revision?: number };

function origin(o: SnapshotOrigin): string {
  return o.kind === 'file' ? `file ${o.path}` : `backup ${o.id} (${o.strategy}, revision ${o.revision})`;
}

function parseRevision(v: string | boolean | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n <= 0) throw new UsageError([`--revision was invalid: ${JSON.stringify(v)} is not a positive revision number`]);
  return n;
}

/** The request the flags make; usage errors (exit 2) for flags that do not go together. */
function parseRequest(ctx: CommandContext): InspectRequest {
  const { flags } = ctx.args;
  const get = stringFlag(ctx, 'get');
  const prefix = stringFlag(ctx, 'prefix');
  const revision = parseRevision(flags.revision);
  const modes = (['keys', 'get', 'render'] as const).filter((m) => flags[m] !== undefined);
  if (modes.length > 1) throw new UsageError([`--${modes.join(', --')} cannot be combined: pick one`]);
  const mode: 'status' | (typeof modes)[number] = modes.length > 0 ? modes[0]! : 'status';
  if (flags.raw === true && mode !== 'get') throw new UsageError(['--raw prints the value of one key: use it with --get KEY']);
  if (mode === 'status' && (prefix !== undefined || revision !== undefined)) {
    throw new UsageError(['--prefix and --revision select keys: use them with --keys, --get or --render']);
  }
  if (mode === 'get' && prefix !== undefined) throw new UsageError(['--prefix does not apply to --get KEY']);
  if (flags.raw === true && ctx.write === undefined) throw new UsageError(['--raw needs a standard output to write bytes to']);
  const json = flags.json === true;
  const selected = { ...(revision !== undefined && { revision }) };
  if (mode === 'status') return { mode, json };
  if (mode === 'get') return { mode, key: get!, raw: flags.raw === true, ...selected };
  return { mode, json, ...(prefix !== undefined && { prefix }), ...selected };
}

/**
 * `reshifter inspect <id|latest|file> [--json]`: reads an etcd snapshot offline, from a file (with or without
 * etcd's sha256 trailer) or a stored snapshot backup (downloaded and decoded to a private temporary file, deleted
 * afterwards). Prints the status as `etcdctl snapshot status -w json` computes it, and the trailer's state.
 * `--keys [--prefix P] [--revision R]` lists the live keys; `--get KEY [--raw]` shows one; `--render` prints the
 * audit listing of the `render` strategy (RS_INCLUDE_/EXCLUDE_* filters apply).
 */
export async function inspectCommand(ctx: CommandContext): Promise<void> {
  const { positionals } = ctx.args;
  // One target, as the command table requires.
  const target = positionals[0]!;
  const req = parseRequest(ctx);
  // A backup of the Go Reshifter, by its id (10 digits): its <id>.zip at the root of the store, as restore, verify and stats read it.
  if (/^\d{10}$/.test(target) && !(await stat(target).then((st) => st.isFile(), () => false))) return inspectGoBackup(ctx, req, target);
  if (req.mode === 'status') await statusAhead(target);
  const { openSnapshotInput, openKeysInput } = await import('../ops/open-snapshot.js');
  const series = () => seriesFlag(ctx);
  // The status is a snapshot's; the keys are a snapshot's or a key dump's.
  const input = req.mode === 'status' ? await openSnapshotInput(ctx, target, series) : await openKeysInput(ctx, target, series);
  await readInput(ctx, req, input, target);
}

/** `inspect <go-id> --keys` (`--get`, `--render`): the keys of `<id>.zip` in the store, checked whole first; no status (a snapshot's). */
async function inspectGoBackup(ctx: CommandContext, req: InspectRequest, id: string): Promise<void> {
  const [{ openRepository }, { withGoBackupFile }, { goZipKeysInput }, { OperationError }] = await Promise.all([
    import('../ops/repository.js'),
    import('../ops/go-backup-file.js'),
    import('../ops/go-zip-keys-input.js'),
    import('../core/errors.js'),
  ]);
  if (req.mode === 'status') {
    throw new OperationError(`${id} is a backup of the Go Reshifter, not an etcd snapshot: \`inspect\` shows the status of snapshots; for it use \`stats ${id}\`, or \`inspect ${id} --keys\`, \`--get KEY\` or \`--render\``);
  }
  const repo = openRepository(ctx.config, ctx.log);
  try {
    await withGoBackupFile(ctx, repo.store, id, 'inspect', async (path, where) => readInput(ctx, req, await goZipKeysInput(ctx, path, { name: where, id }), id));
  } finally {
    await repo.store.close();
  }
}

/** Prints what `req` asks of the opened `input` (`target` as given), and closes it. */
async function readInput(ctx: CommandContext, req: InspectRequest, input: SnapshotInput | KeysInput, target: string): Promise<void> {
  const { snapshotError } = await import('../archive/snapshot-error.js');
  const series = () => seriesFlag(ctx);
  const where = input.origin.kind === 'file' ? input.origin.path : `backup ${input.origin.id}`;
  // `latest` may be any series' newest backup (a filter: dump): which one is read is said when its read starts
  // (openBackup's `reading backup` line), as the status says its source.
  if (req.mode !== 'status' && input.origin.kind === 'backup') {
    const { id, strategy } = input.origin;
    // Hourly filter:secrets dumps beside nightly snapshots: `latest` is the dump, which holds no pod.
    if (target === 'latest' && series() === undefined && strategy.startsWith('filter:')) {
      const note = `"latest" is the newest key dump, ${id} (${strategy}), which holds only the resources its filter selected: --strategy snapshot or --strategy raw reads every key`;
      ctx.log.warn({ id, strategy, note }, 'latest is a filter: key dump, not every resource');
    }
  }
  const listing = { rows: false };
  try {
    if (req.mode === 'status') printStatus(ctx, input.origin, await (input as SnapshotInput).reader.status(), req.json);
    else await printKeys(ctx, input, req, where, listing);
  } catch (err) {
    const failure = snapshotError(err, where);
    if (listing.rows && req.mode !== 'status' && req.mode !== 'get') printCutShort(ctx, req.json, req.mode, failure);
    throw failure;
  } finally {
    await input.close();
  }
}

/**
 * A status of a big snapshot file is bound by the sha256 of its trailer check, which runs on a worker thread: that
 * thread is started before the reader's modules load and the file opens, so its start-up costs no time (the
 * modules are imported after this, not statically, for that reason). main.ts starts it earlier still, before the
 * CLI loads, for `inspect FILE ...` (early-hash.ts); this covers the command lines it does not recognize.
 */
async function statusAhead(target: string): Promise<void> {
  const info = await stat(target).catch(() => undefined);
  if (info?.isFile()) prepareTrailerCheck(info.size);
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
  const rest = [String(r.modRevision), String(r.size), r.kind, r.namespace, r.name, enc];
  return [printedKey(r), ...rest.map((c) => (c === undefined || c === '' ? '-' : printable(c)))].join('\t');
}

/**
 * The key modes: `--keys` (text rows, or one JSON document written row by row), `--get KEY` (its metadata as JSON,
 * or `--raw` its value's bytes), `--render` (the audit listing). The Kubernetes decoders they need load only here.
 */
async function printKeys(ctx: CommandContext, input: KeysInput, req: Exclude<InspectRequest, { mode: 'status' }>, where: string, listing: { rows: boolean }): Promise<void> {
  const { keyRows, getKey, renderRows } = await import('../ops/inspect-keys.js');
  const { reader } = input;
  if (req.mode === 'get') {
    const filter = filterOf(input.origin);
    const found = await getKey(reader, ctx.config, req.key, { where, ...(req.revision !== undefined && { revision: req.revision }), ...(filter && { filter }) });
    if (req.raw) await ctx.write!(found.kv.value);
    else ctx.print(JSON.stringify(found.described, null, 2));
    return;
  }
  const q = { ...(req.prefix !== undefined && { prefix: req.prefix }), ...(req.revision !== undefined && { revision: req.revision }) };
  if (req.mode === 'render') {
    const { AUDIT_COLUMNS, auditRowText } = await import('../kube/audit-row.js');
    // As --keys: the head comes with the first row, so a stop or an error before it prints nothing that reads as an
    // empty listing.
    const paced = rowPacer(ctx, true);
    for await (const row of renderRows(reader, ctx.config, q)) {
      if (!listing.rows && !req.json) ctx.print(AUDIT_COLUMNS.join('\t'));
      listing.rows = true;
      ctx.print(req.json ? JSON.stringify(row) : auditRowText(row as AuditRow));
      await paced();
    }
    if (!listing.rows && !req.json) ctx.print(AUDIT_COLUMNS.join('\t'));
    return;
  }
  // The revision the keys are of: the one asked for, else the input's own (a stored snapshot's may be past the
  // revision its manifest names, read just before it was taken); null only for keys that carry none (the Go zip).
  const revision = req.revision ?? (await reader.latestRevision?.());
  if (revision !== undefined) ctx.log.info({ where, revision }, `keys of ${printable(where)} at revision ${revision}`);
  const head = req.json ? `{"revision":${revision ?? 'null'},"prefix":${JSON.stringify(req.prefix ?? '')},"keys":[` : KEY_COLUMNS.join('\t');
  // The head is printed once the scan has started, so an error (a compacted revision) leaves no half output.
  let opened = false;
  let pending: string | undefined;
  const paced = rowPacer(ctx, true);
  for await (const row of keyRows(reader, ctx.config, q)) {
    if (!opened) ctx.print(head);
    opened = true;
    listing.rows = true;
    if (req.json && pending !== undefined) ctx.print(`${pending},`);
    if (req.json) pending = JSON.stringify(row);
    else ctx.print(keyRowText(row));
    await paced();
  }
  if (!opened) ctx.print(head);
  if (pending !== undefined) ctx.print(pending);
  if (req.json) ctx.print(']}');
}

/** The strategy and resources of a `filter:` dump read from the store; undefined for any other input. */
function filterOf(from: SnapshotOrigin): { strategy: string; resources: string[] } | undefined {
  if (from.kind !== 'backup' || !from.strategy.startsWith('filter:')) return undefined;
  const spec = parseStrategy(from.strategy);
  return spec.kind === 'filter' ? { strategy: from.strategy, resources: [...spec.resources] } : undefined;
}

/**
 * The last line of a listing that stopped (a signal, a damaged page) after rows were printed: rows piped to a file or
 * a tool would read as a whole listing, and the exit code is lost in a pipe without pipefail. A table ends with a
 * `# incomplete: ...` line, JSON lines with `{"incomplete":...}` (not a row: a reader that checks rows stops there);
 * the `--keys --json` document is left unclosed, which no JSON parser takes.
 */
function printCutShort(ctx: CommandContext, json: boolean, mode: 'keys' | 'render', failure: unknown): void {
  const why = `${describeError(failure)}: the rows above are not all the keys`;
  if (!json) ctx.print(`# incomplete: ${why}`);
  else if (mode === 'render') ctx.print(JSON.stringify({ incomplete: why }));
}
