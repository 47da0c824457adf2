import type { Etcd3 } from 'etcd3';
import { printableBytes } from '../core/printable.js';
import { DEFAULT_PREFIXES } from '../kube/key-layout.js';
import { prefixRanges, normalisePrefixes, rangesBetween } from './key-ranges.js';
import { countKeys } from './paged-reader.js';
import type { V2Client } from './v2-client.js';

/** Keys under each prefix of a v3 etcd (count-only reads, nothing is transferred). */
export async function countV3Prefixes(etcd: Etcd3, prefixes: readonly string[] = DEFAULT_PREFIXES): Promise<Array<{ prefix: string; keys: number }>> {
  const out: Array<{ prefix: string; keys: number }> = [];
  for (const prefix of normalisePrefixes(prefixes)) {
    const [range] = prefixRanges([prefix]);
    out.push({ prefix, keys: await countKeys(etcd, range!) });
  }
  return out;
}

/** Prefixes that exist as non-empty directories in a v2 etcd. */
export async function findV2Prefixes(v2: V2Client, prefixes: readonly string[] = DEFAULT_PREFIXES): Promise<string[]> {
  const found: string[] = [];
  for (const prefix of normalisePrefixes(prefixes)) {
    const got = await v2.get(prefix === '/' ? '/' : prefix);
    if (got && (!got.node.dir || (got.node.nodes ?? []).length > 0)) found.push(prefix);
  }
  return found;
}

/** Keys an etcd holds beyond the prefixes a dump reads: how many, and the top-level names they are under. */
export interface KeysOutside {
  /** v3: the number of keys; v2: not counted (it would walk every directory). */
  count?: number;
  /** Their first path segments (`/bootstrap`, `/calico`), sorted, at most OUTSIDE_NAMES of them. */
  under: string[];
}

/** kube-apiserver's own key for coordinating compaction: outside every prefix, and nothing a restore needs. */
const COMPACT_REV_KEY = 'compact_rev_key';
const OUTSIDE_NAMES = 5;
/** Keys read per gap between the prefixes to name what lies there. */
const OUTSIDE_SAMPLE = 1000;

/** Bytes of a name kept for the warning: a key is any bytes, up to etcd's request limit. */
const NAME_BYTES = 64;

/** `/calico/ipam/v2/x` -> `/calico`; a key without a leading slash names itself; printed as keys are, and cut short. */
function topLevel(key: Buffer): string {
  const slash = key[0] === 0x2f ? key.indexOf(0x2f, 1) : -1;
  const name = slash > 0 ? key.subarray(0, slash) : key;
  return name.length > NAME_BYTES ? `${printableBytes(name.subarray(0, NAME_BYTES))}...` : printableBytes(name);
}

/** `1 key`, `4 keys`, or `keys` (v2 does not count them). */
export function keysOutsideText(outside: KeysOutside): string {
  return outside.count === undefined ? 'keys' : outside.count === 1 ? '1 key' : `${outside.count} keys`;
}

function outsideOf(count: number | undefined, names: Iterable<Buffer>): KeysOutside {
  return { ...(count !== undefined && { count }), under: [...new Set([...names].map(topLevel))].sort().slice(0, OUTSIDE_NAMES) };
}

/**
 * The keys of a v3 etcd outside `prefixes` (and kube-apiserver's compact_rev_key): count-only reads of the gaps
 * between the prefixes' ranges, and a keys-only read of each non-empty gap to name what is there.
 */
export async function v3KeysOutside(etcd: Etcd3, prefixes: readonly string[]): Promise<KeysOutside> {
  const compactRevKey = { start: Buffer.from(COMPACT_REV_KEY), end: Buffer.from(`${COMPACT_REV_KEY}\0`) };
  let count = 0;
  const names: Buffer[] = [];
  for (const gap of rangesBetween([...prefixRanges(prefixes), compactRevKey])) {
    const range = { key: gap.start, range_end: gap.end };
    const keys = Number((await etcd.kv.range({ ...range, count_only: true })).count);
    if (keys === 0) continue;
    count += keys;
    const sample = await etcd.kv.range({ ...range, keys_only: true, limit: OUTSIDE_SAMPLE });
    names.push(...sample.kvs.map((kv) => kv.key));
  }
  return outsideOf(count, names);
}

/** The top-level entries of a v2 etcd outside `prefixes` (v2 hides its own `/_etcd`). */
export async function v2KeysOutside(v2: V2Client, prefixes: readonly string[]): Promise<KeysOutside> {
  const list = normalisePrefixes(prefixes);
  if (list.includes('/')) return { under: [] };
  const top = (await v2.get('/'))?.node.nodes ?? [];
  const outside = top.map((n) => n.key).filter((key) => !list.some((p) => key === p || key.startsWith(`${p}/`)));
  return outsideOf(undefined, outside.map((key) => Buffer.from(key)));
}
