import type { Config } from '../config/types.js';
import { NotFoundError } from '../core/errors.js';
import { keyFields, parsePrinted, printableBytes } from '../core/printable.js';
import { buildSelection, selectKey, selectsEverything } from '../core/key-selection.js';
import { prefixRanges } from '../etcd/key-ranges.js';
import { auditRow, type AuditRow } from '../kube/audit-row.js';
import { DEFAULT_PREFIXES, decodeValue, parseKey, resourceMatches } from '../kube/index.js';
import { layoutPrefixes, resourceLabel } from '../kube/resource-label.js';
import type { LiveKey } from '../snapshot/index.js';
import { liveKeysIn } from './backup-keys.js';
import type { KeyReader } from './keys-input.js';

// The key modes of `inspect` (its status needs none of this): loaded only for them, as they need the Kubernetes
// decoders and the snapshot's key reader.

/** `inspect --keys`: one live key with etcd's bookkeeping and what it is in Kubernetes terms. */
export interface InspectKeyRow extends AuditRow {
  createRevision: number;
  modRevision: number;
  version: number;
  /** Lease id (decimal) when the key has one. */
  lease?: string;
}

/** Which keys: under a prefix (in the printed form of keys: `\xNN` escapes read as bytes), at a revision (default the latest). */
export interface KeyQuery {
  prefix?: string;
  revision?: number;
}

/** The prefixes keys are read against: RS_KUBE_PREFIXES, or the Kubernetes ones. */
function prefixesOf(config: Config): readonly string[] {
  return config.selection.prefixes.length > 0 ? config.selection.prefixes : DEFAULT_PREFIXES;
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

/** The live keys (`--keys`), in key order, streamed; RS_INCLUDE_/EXCLUDE_* filters apply, as to `--render`. */
export async function* keyRows(reader: KeyReader, config: Config, q: KeyQuery): AsyncGenerator<InspectKeyRow> {
  const layout = layoutPrefixes(prefixesOf(config), DEFAULT_PREFIXES);
  const selection = buildSelection(config.selection);
  const everything = selectsEverything(selection);
  const keys = reader.liveKeys({ ...(q.prefix !== undefined && { prefix: parsePrinted(q.prefix) }), ...(q.revision !== undefined && { revision: q.revision }) });
  for await (const kv of keys) {
    if (!everything && !selectKey(parseKey(kv.key, layout), selection)) continue;
    yield keyRow(kv, layout);
  }
}

/**
 * One key (`--get KEY`, KEY as `--keys` prints it: `\xNN` escapes read as bytes): the live key, and its decoded
 * metadata. NotFoundError naming `where` when absent, and, for a `filter:` dump (`filter`: its strategy and resources)
 * that could never hold the key, that it is the filter and not the cluster that left the key out.
 */
export async function getKey(
  reader: KeyReader,
  config: Config,
  key: string,
  q: { revision?: number; where: string; filter?: { strategy: string; resources: readonly string[] } },
): Promise<{ kv: LiveKey; described: Record<string, unknown> }> {
  const wanted = parsePrinted(key);
  let found: LiveKey | undefined;
  for await (const kv of reader.liveKeys({ prefix: wanted, ...(q.revision !== undefined && { revision: q.revision }) })) {
    if (kv.key.equals(wanted)) found = kv;
  }
  const layout = layoutPrefixes(prefixesOf(config), DEFAULT_PREFIXES);
  if (found === undefined) {
    const parsed = parseKey(wanted, layout);
    const filtered = q.filter !== undefined && !q.filter.resources.some((r) => resourceMatches(r, parsed));
    const why = filtered
      ? `: it is a ${q.filter!.strategy} dump, which holds only those resources, not ${resourceLabel(parsed)} (a snapshot or raw dump holds every key: --strategy snapshot or --strategy raw with latest)`
      : '';
    throw new NotFoundError(`key "${printableBytes(wanted)}" is not in ${q.where}${q.revision !== undefined ? ` at revision ${q.revision}` : ''}${why}`);
  }
  const described = {
    ...keyFields(found.key),
    createRevision: found.createRevision,
    modRevision: found.modRevision,
    version: found.version,
    ...(found.lease !== 0n && { lease: found.lease.toString() }),
    size: found.value.length,
    resource: resourceLabel(parseKey(found.key, layout)),
    ...decodeValue(found.value),
  };
  return { kv: found, described };
}

/** The audit listing of the `render` strategy, from the snapshot (RS_INCLUDE_/EXCLUDE_* filters apply). */
export async function* renderRows(reader: KeyReader, config: Config, q: KeyQuery): AsyncGenerator<AuditRow> {
  const prefixes = prefixesOf(config);
  const layout = layoutPrefixes(prefixes, DEFAULT_PREFIXES);
  const selection = buildSelection(config.selection);
  const everything = selectsEverything(selection);
  const ranges = q.prefix !== undefined ? [{ prefix: q.prefix, start: parsePrinted(q.prefix) }] : prefixRanges(prefixes);
  for await (const kv of reader.liveKeysIn?.(ranges, q.revision) ?? liveKeysIn(reader, ranges, q.revision)) {
    if (!everything && !selectKey(parseKey(kv.key, layout), selection)) continue;
    yield auditRow(kv.key, kv.value, layout, kv.modRevision);
  }
}
