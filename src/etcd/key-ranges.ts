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
