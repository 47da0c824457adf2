/** A half-open key range [start, end) of etcd's keyspace; `end` of a single 0 byte means "to the last key". */
export interface KeyRange {
  prefix: string;
  start: Buffer;
  end: Buffer;
}

const ALL = Buffer.from([0]);

/** The first key after every key that starts with `prefix` (etcd's `--prefix` range end). */
export function prefixEnd(prefix: Buffer): Buffer {
  for (let i = prefix.length - 1; i >= 0; i--) {
    if (prefix[i]! < 0xff) {
      const end = Buffer.from(prefix.subarray(0, i + 1));
      end[i]! += 1;
      return end;
    }
  }
  return ALL;
}

/** Normalises prefixes: no trailing slash (except `/` itself), no duplicates, sorted. */
export function normalisePrefixes(prefixes: readonly string[]): string[] {
  const cleaned = prefixes.map((p) => (p.length > 1 ? p.replace(/\/+$/, '') : p)).filter((p) => p.length > 0);
  return [...new Set(cleaned)].sort();
}

/**
 * The disjoint ranges that cover the keys under `prefixes`, in key order. `/registry` covers `/registry/...` (never
 * `/registryfoo`); `/` covers every key, including those that do not start with a slash (`compact_rev_key`).
 * A prefix under another one is dropped.
 */
export function prefixRanges(prefixes: readonly string[]): KeyRange[] {
  const list = normalisePrefixes(prefixes);
  if (list.includes('/')) return [{ prefix: '/', start: ALL, end: ALL }];
  const kept = list.filter((p) => !list.some((q) => q !== p && p.startsWith(`${q}/`)));
  return kept.map((prefix) => {
    const start = Buffer.from(`${prefix}/`);
    return { prefix, start, end: prefixEnd(start) };
  });
}

/** The ranges of the keyspace that none of `ranges` covers (they may come in any order; they must not overlap). */
export function rangesBetween(ranges: ReadonlyArray<{ start: Buffer; end: Buffer }>): Array<{ start: Buffer; end: Buffer }> {
  const gaps: Array<{ start: Buffer; end: Buffer }> = [];
  let from: Buffer = ALL;
  for (const r of [...ranges].sort((a, b) => Buffer.compare(a.start, b.start))) {
    if (Buffer.compare(from, r.start) < 0) gaps.push({ start: from, end: r.start });
    if (isOpenEnd(r.end)) return gaps;
    from = r.end;
  }
  return [...gaps, { start: from, end: ALL }];
}

/** Key bytes read as one number when spacing windows: 6 (48 bits, exact in a double). */
const SPAN = 6;
const SPAN_VALUES = 2 ** (8 * SPAN);

/** True for an `end` that means "to the last key". */
export function isOpenEnd(end: Buffer): boolean {
  return end.length === 1 && end[0] === 0;
}

/** The SPAN bytes of `key` from `at` as a number (missing bytes count as 0). */
function spanValue(key: Buffer, at: number): number {
  let v = 0;
  for (let i = 0; i < SPAN; i++) v = v * 256 + (key[at + i] ?? 0);
  return v;
}

/** How far apart keys lie around a page: from where they differ (`at`), the mean distance of neighbours as a number. */
export interface KeySpacing {
  at: number;
  perKey: number;
}

/** The spacing of `count` sorted keys from `first` to `last`; undefined when it cannot be told (fewer than 2 keys). */
export function keySpacing(first: Buffer, last: Buffer, count: number): KeySpacing | undefined {
  if (count < 2) return undefined;
  let at = 0;
  while (at < first.length && at < last.length && first[at] === last[at]) at++;
  const distance = spanValue(last, at) - spanValue(first, at);
  return distance > 0 ? { at, perKey: distance / (count - 1) } : undefined;
}

/**
 * A key after `from` such that [from, key) holds about `keys` keys if they are spaced as `spacing` says: `from`'s
 * first `at` bytes followed by its next SPAN bytes plus the distance. Past the largest value of those bytes (a carry:
 * keys `team-4z...` are followed by `team-50...`), the same distance is taken one byte further up. Always greater
 * than `from`; undefined only when it would run past every key.
 */
export function keyWindowEnd(from: Buffer, spacing: KeySpacing, keys: number): Buffer | undefined {
  let at = spacing.at;
  let distance = Math.max(1, Math.ceil(spacing.perKey * keys));
  let value = spanValue(from, at) + distance;
  while (!(value < SPAN_VALUES)) {
    if (at === 0 || !Number.isFinite(value)) return undefined;
    at--;
    distance = Math.max(1, Math.ceil(distance / 256));
    value = spanValue(from, at) + distance;
  }
  const end = Buffer.alloc(at + SPAN);
  from.copy(end, 0, 0, Math.min(at, from.length));
  for (let i = SPAN - 1; i >= 0; i--) {
    end[at + i] = value % 256;
    value = Math.floor(value / 256);
  }
  return end;
}
