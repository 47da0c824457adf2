import { AbortedError, describeError } from './errors.js';
import type { KeyRecord } from './key-record.js';
import { parseKey, type ParsedKey } from '../kube/index.js';
import { resourceLabel } from '../kube/resource-label.js';
import { fieldDiff, type FieldDiff, type FieldDiffOptions } from './field-diff.js';
import { keyFields, printableBytes } from './printable.js';

/** One key of a backup (a KeyRecord, or as much of one as the diff needs). Sources yield them sorted by key bytes (etcd's order). */
export type DiffEntry = Pick<KeyRecord, 'key' | 'value'> & Partial<Pick<KeyRecord, 'modRevision'>>;

export type Change = 'added' | 'removed' | 'changed';

/** Counts of one resource in one namespace (`namespace` absent for cluster-scoped objects and other keys). */
export interface DiffGroup {
  resource: string;
  namespace?: string;
  added: number;
  removed: number;
  changed: number;
}

/** One key that differs. `key` is the key as text (invalid UTF-8 shown with U+FFFD). */
export interface DiffObject {
  change: Change;
  /** The key as text; when it is not valid UTF-8, its printed form and `keyBase64` the exact bytes (keyFields). */
  key: string;
  keyBase64?: string;
  resource: string;
  namespace?: string;
  name?: string;
  /** For a changed Kubernetes object: which fields differ (see fieldDiff). */
  fields?: FieldDiff;
}

export interface DiffResult {
  /** `outside`: keys outside `scope`, which only one backup can hold: not compared, not listed. */
  summary: { added: number; removed: number; changed: number; unchanged: number; ignored: number; outside: number };
  /** Per resource and namespace, sorted by resource then namespace; only groups with a difference. */
  groups: DiffGroup[];
  /** The differing keys in key order, at most `limit` of them. */
  objects: DiffObject[];
  /** True when there were more differing keys than `objects` holds. */
  truncated: boolean;
}

export interface DiffOptions {
  /** Key prefixes that hold Kubernetes objects (default: parseKey's). */
  prefixes?: readonly string[];
  /** Most objects listed in the result (the counts are always complete). Default 1000. */
  limit?: number;
  /**
   * Which fields differ, for the first `maxObjects` (default 1000) changed objects listed, with fieldDiff's limits;
   * false for none. Bounds the result's size whatever `limit` is.
   */
  fields?: (FieldDiffOptions & { maxObjects?: number }) | false;
  /**
   * Compare only the keys under these prefixes (sharedPrefixes: what both backups hold), counting the others as
   * `outside`. Default: every key.
   */
  scope?: readonly string[];
  /**
   * Compare only the keys both backups can hold beyond `scope` (a `filter:` dump holds only the resources and
   * namespaces it selected), counting the others as `outside`. Default: every key in scope.
   */
  bothHold?: (key: Buffer) => boolean;
  /** Stops the comparison (SIGTERM/SIGINT) with an AbortedError; checked every few hundred keys. */
  signal?: AbortSignal;
}

/** Keys outside every prefix (and oddly shaped ones naming no resource) are grouped under this resource. */
export const OTHER_RESOURCE = '(other)';

/**
 * Compares two backups' keys by merging two sorted streams: what was added, removed or changed between `from` and
 * `to`, per resource and namespace. Values are compared byte for byte (revisions differ after a restore even when
 * nothing changed). apiserver bookkeeping (`compact_rev_key`, master leases, allocation ranges) changes all the time
 * and says nothing about the cluster's objects, so it is counted as ignored. With a `scope`, keys outside it are
 * counted as outside and never as differences. Memory holds two entries at a time plus the result; a source out of
 * key order fails rather than giving a wrong answer.
 */
export async function diffKeys(from: AsyncIterable<DiffEntry> | Iterable<DiffEntry>, to: AsyncIterable<DiffEntry> | Iterable<DiffEntry>, opts: DiffOptions = {}): Promise<DiffResult> {
  const limit = opts.limit ?? 1000;
  const result: DiffResult = { summary: { added: 0, removed: 0, changed: 0, unchanged: 0, ignored: 0, outside: 0 }, groups: [], objects: [], truncated: false };
  const groups = new Map<string, DiffGroup>();
  const a = sorted(from, 'from');
  const b = sorted(to, 'to');
  const parse = (key: Buffer) => (opts.prefixes ? parseKey(key, opts.prefixes) : parseKey(key));
  const fieldOpts = opts.fields === false ? undefined : (opts.fields ?? {});
  const underScope = opts.scope === undefined ? () => true : underAny(opts.scope);
  const bothHold = opts.bothHold;
  const inScope = bothHold === undefined ? underScope : (key: Buffer) => underScope(key) && bothHold(key);

  const record = recorder(result, groups, limit, parse, fieldOpts === undefined ? undefined : { opts: fieldOpts, left: fieldOpts.maxObjects ?? 1000 });

  try {
    await merge();
  } finally {
    await Promise.allSettled([a.close(), b.close()]);
  }
  result.groups = [...groups.values()].sort(
    (p, q) => p.resource.localeCompare(q.resource) || (p.namespace ?? '').localeCompare(q.namespace ?? ''),
  );
  return result;

  async function merge(): Promise<void> {
    let x = await a.next();
    let y = await b.next();
    let steps = 0;
    while (x !== undefined || y !== undefined) {
      // Two backups read in place (a local store) take as long as they are big: a signal must not wait for the end.
      if ((++steps & 0xff) === 0 && opts.signal?.aborted) throw new AbortedError(`the comparison stopped: ${describeError(opts.signal.reason)}`);
      const order = x === undefined ? 1 : y === undefined ? -1 : Buffer.compare(x.key, y.key);
      if (!inScope(order > 0 ? y!.key : x!.key)) {
        // Held by one backup because the other cannot hold it (a key dump's prefixes, a filter's resources): no
        // difference between them.
        result.summary.outside++;
        if (order <= 0) x = await a.next();
        if (order >= 0) y = await b.next();
      } else if (order < 0) {
        record('removed', x!.key);
        x = await a.next();
      } else if (order > 0) {
        record('added', y!.key);
        y = await b.next();
      } else {
        if (x!.value.equals(y!.value)) {
          if (parse(x!.key).type === 'non-object') result.summary.ignored++;
          else result.summary.unchanged++;
        } else {
          record('changed', x!.key, { from: x!.value, to: y!.value });
        }
        x = await a.next();
        y = await b.next();
      }
    }
  }
}

/** Counts a differing key in its group and lists it while the list has room; apiserver bookkeeping is ignored. */
function recorder(
  result: DiffResult,
  groups: Map<string, DiffGroup>,
  limit: number,
  parse: (key: Buffer) => ParsedKey,
  fields: { opts: FieldDiffOptions; left: number } | undefined,
) {
  return (change: Change, key: Buffer, values?: { from: Buffer; to: Buffer }): void => {
    const parsed = parse(key);
    if (parsed.type === 'non-object') {
      result.summary.ignored++;
      return;
    }
    const { resource, namespace, name } = describe(parsed);
    result.summary[change]++;
    const id = `${resource}\0${namespace ?? ''}`;
    let g = groups.get(id);
    if (!g) {
      g = { resource, ...(namespace !== undefined && { namespace }), added: 0, removed: 0, changed: 0 };
      groups.set(id, g);
    }
    g[change]++;
    if (result.objects.length < limit) {
      // Field details for the first `maxObjects` changed objects listed.
      const changed = values && fields && fields.left > 0 ? fieldDiff(values.from, values.to, resource, fields.opts) : undefined;
      if (changed && fields) fields.left--;
      result.objects.push({
        change,
        ...keyFields(key),
        resource,
        ...(namespace !== undefined && { namespace }),
        ...(name !== undefined && { name }),
        ...(changed && { fields: changed }),
      });
    } else {
      result.truncated = true;
    }
  };
}

function describe(parsed: ParsedKey): { resource: string; namespace?: string; name?: string } {
  if (parsed.type !== 'object') return { resource: parsed.type === 'plain' ? OTHER_RESOURCE : resourceLabel(parsed) };
  return { resource: resourceLabel(parsed), ...(parsed.namespace !== undefined && { namespace: parsed.namespace }), name: parsed.name };
}

/**
 * The prefixes under which both backups hold every key, for `scope`: `undefined` for one that holds every key (a
 * snapshot, a key dump of `/`), else the prefixes it was taken under (a key dump: `/registry` holds `/registry/...`).
 * Undefined when both hold every key; otherwise the prefixes of one that lie under (or are) a prefix of the other.
 */
export function sharedPrefixes(a: readonly string[] | undefined, b: readonly string[] | undefined): string[] | undefined {
  const norm = (p: readonly string[] | undefined) => {
    const list = p?.map((x) => (x.length > 1 ? x.replace(/\/+$/, '') : x)).filter((x) => x.length > 0);
    return list === undefined || list.includes('/') ? undefined : [...new Set(list)];
  };
  const [p, q] = [norm(a), norm(b)];
  if (p === undefined || q === undefined) return p ?? q;
  const under = (x: string, ys: readonly string[]) => ys.some((y) => x === y || x.startsWith(`${y}/`));
  return [...new Set([...p.filter((x) => under(x, q)), ...q.filter((y) => under(y, p))])].sort();
}

/** Whether a key lies under one of `prefixes` (`/registry` holds `/registry/...`, never `/registryfoo`; `/`: every key). */
function underAny(prefixes: readonly string[]): (key: Buffer) => boolean {
  if (prefixes.includes('/')) return () => true;
  const starts = prefixes.map((p) => Buffer.from(`${p.replace(/\/+$/, '')}/`));
  return (key) => starts.some((s) => key.length > s.length && key.subarray(0, s.length).equals(s));
}

/** Pulls entries one at a time and insists on strictly increasing keys. */
function sorted(source: AsyncIterable<DiffEntry> | Iterable<DiffEntry>, side: string): { next(): Promise<DiffEntry | undefined>; close(): Promise<void> } {
  const it = Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : (source as Iterable<DiffEntry>)[Symbol.iterator]();
  let last: Buffer | undefined;
  return {
    async next() {
      const r = await it.next();
      if (r.done) return undefined;
      if (last !== undefined && Buffer.compare(last, r.value.key) >= 0) {
        throw new Error(`the "${side}" keys are not in key order: "${printableBytes(r.value.key)}" came after "${printableBytes(last)}"`);
      }
      last = r.value.key;
      return r.value;
    },
    // Ends a source left half-read (the other side failed), so it can release its file or connection.
    async close() {
      await it.return?.();
    },
  };
}
