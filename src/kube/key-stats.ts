import { valueEncoding } from './envelope.js';
import { parseKey } from './key-layout.js';
import { resourceLabel } from './resource-label.js';

/** Keys and bytes (key + value) of one group. */
export interface Tally {
  keys: number;
  bytes: number;
}

/** What one key counts towards. */
export interface StatsEntry {
  prefix: string;
  resource: string;
  namespace: string;
  encoding: string;
  keyBytes: number;
  valueBytes: number;
}

export interface StatsReport {
  keys: number;
  keyBytes: number;
  valueBytes: number;
  byPrefix: Record<string, Tally>;
  byResource: Record<string, Tally>;
  byNamespace: Record<string, Tally>;
  byEncoding: Record<string, Tally>;
}

/** Namespace column of keys that belong to no namespace. */
export const CLUSTER_SCOPED = '(cluster-scoped)';
export const NO_NAMESPACE = '(none)';

/** The groups of one key and value. */
export function statsEntryOf(key: Buffer, value: Buffer, prefixes: readonly string[]): StatsEntry {
  const parsed = parseKey(key, prefixes);
  return {
    prefix: parsed.prefix ?? NO_NAMESPACE,
    resource: resourceLabel(parsed),
    namespace: parsed.namespace ?? (parsed.type === 'object' ? CLUSTER_SCOPED : NO_NAMESPACE),
    // From the value's first bytes: decoding every object (a JSON.parse of each 1 MB Helm release) only took heap.
    encoding: valueEncoding(value),
    keyBytes: key.length,
    valueBytes: value.length,
  };
}

/** Adds up keys and bytes per prefix, resource, namespace and value encoding. Memory grows with groups, not keys. */
export class KeyStats {
  private readonly report_: StatsReport = { keys: 0, keyBytes: 0, valueBytes: 0, byPrefix: {}, byResource: {}, byNamespace: {}, byEncoding: {} };

  add(e: StatsEntry): void {
    const r = this.report_;
    const bytes = e.keyBytes + e.valueBytes;
    r.keys++;
    r.keyBytes += e.keyBytes;
    r.valueBytes += e.valueBytes;
    bump(r.byPrefix, e.prefix, bytes);
    bump(r.byResource, e.resource, bytes);
    bump(r.byNamespace, e.namespace, bytes);
    bump(r.byEncoding, e.encoding, bytes);
  }

  /** The totals, each group sorted by bytes (largest first). */
  report(): StatsReport {
    const r = this.report_;
    return { ...r, byPrefix: sorted(r.byPrefix), byResource: sorted(r.byResource), byNamespace: sorted(r.byNamespace), byEncoding: sorted(r.byEncoding) };
  }
}

function bump(groups: Record<string, Tally>, name: string, bytes: number): void {
  // Own properties only: a namespace called __proto__ must stay data.
  const t = Object.prototype.hasOwnProperty.call(groups, name) ? groups[name]! : undefined;
  if (t) {
    t.keys++;
    t.bytes += bytes;
  } else {
    Object.defineProperty(groups, name, { value: { keys: 1, bytes }, enumerable: true, writable: true, configurable: true });
  }
}

function sorted(groups: Record<string, Tally>): Record<string, Tally> {
  const out: Record<string, Tally> = {};
  const entries = Object.entries(groups).sort((a, b) => b[1].bytes - a[1].bytes || (a[0] < b[0] ? -1 : 1));
  for (const [k, v] of entries) Object.defineProperty(out, k, { value: { ...v }, enumerable: true, writable: true, configurable: true });
  return out;
}
