import { isUtf8 } from 'node:buffer';
import {
  COMPACT_REV_KEY,
  MAX_STORAGE_PATH_SEGMENTS,
  NON_OBJECT_RESOURCES,
  STORAGE_PATH_RESOURCES,
} from './resource-prefixes.js';
import { utf8 } from './text.js';

/** Where Kubernetes (`/registry`), OpenShift 3.x/4 (`/kubernetes.io`) and OpenShift's own API (`/openshift.io`) store objects. */
export const DEFAULT_PREFIXES: readonly string[] = Object.freeze(['/registry', '/kubernetes.io', '/openshift.io']);

interface KeyParts {
  /** The matched prefix, without a trailing slash. */
  prefix?: string;
  /** The resource as a plural without group (`services`, not `services/specs`; `nodes`, not `minions`). */
  resource?: string;
  /** The API group when the key carries one (CRDs, APIServices, custom resources). */
  group?: string;
  namespace?: string;
  name?: string;
}

/** A key that addresses one object: `<prefix>/[<group>/]<resource>/[<namespace>/]<name>`. */
export interface ObjectKey extends KeyParts {
  type: 'object';
  object: true;
  prefix: string;
  resource: string;
  name: string;
}

/** apiserver or etcd bookkeeping: `compact_rev_key` (no prefix), `<prefix>/masterleases/...`, `<prefix>/ranges/...`. */
export interface NonObjectKey extends KeyParts {
  type: 'non-object';
  object: false;
  resource: string;
  namespace?: undefined;
  name?: undefined;
}

/**
 * Under a prefix, but not shaped like any object key (too few or too many segments, empty, `.` or `..` segments).
 * `resource` only when the key names one: a segment that is empty, `.` or `..` is no resource, and a dotted first
 * segment with an empty label (`..`, `.x`) no group.
 */
export interface UnrecognisedKey extends KeyParts {
  type: 'unrecognised';
  object: false;
  prefix: string;
  namespace?: undefined;
  name?: undefined;
}

/** Outside every prefix: not Kubernetes data as far as we can tell. */
export interface PlainKey extends KeyParts {
  type: 'plain';
  object: false;
  prefix?: undefined;
  resource?: undefined;
  group?: undefined;
  namespace?: undefined;
  name?: undefined;
}

/** The meaning of an etcd key in Kubernetes' layout. */
export type ParsedKey = ObjectKey | NonObjectKey | UnrecognisedKey | PlainKey;

const PLAIN: PlainKey = Object.freeze({ type: 'plain', object: false });

// First segments of the multi-segment storage paths, so the common key skips the slice-and-join lookup.
const MULTI_SEGMENT_HEADS = new Set(
  [...STORAGE_PATH_RESOURCES.keys()].filter((path) => path.includes('/')).map((path) => path.split('/')[0]!),
);

/**
 * Parses an etcd key against the given prefixes (longest match wins). Scope comes from the segment count after the
 * resource: one segment is a cluster-scoped name, two are namespace and name. Names are returned exactly as stored.
 * A segment that is empty, `.` or `..`, or (in a key that is not UTF-8) holds bytes that are not, names nothing: the
 * apiserver writes no such name, and its text would not be the key's.
 */
export function parseKey(key: Uint8Array | string, prefixes: readonly string[] = DEFAULT_PREFIXES): ParsedKey {
  const text = typeof key === 'string' ? key : utf8(key);
  if (text === COMPACT_REV_KEY) return { type: 'non-object', object: false, resource: COMPACT_REV_KEY };
  const prefix = matchPrefix(text, prefixes);
  if (prefix === undefined) return PLAIN;
  // U+FFFD stands where bytes were not UTF-8 (unless the key holds the character itself).
  const lossy = typeof key !== 'string' && text.includes('\ufffd') && !isUtf8(key);
  return parseSegments(prefix, text.slice(prefix.length + 1).split('/'), lossy ? isOddOrLossy : isOdd);
}

function matchPrefix(text: string, prefixes: readonly string[]): string | undefined {
  let best: string | undefined;
  for (const raw of prefixes) {
    const prefix = stripTrailingSlashes(raw);
    if (best !== undefined && prefix.length <= best.length) continue;
    // The boundary check keeps `/registry` from claiming `/registryfoo/...`.
    if (text.length > prefix.length && text.charCodeAt(prefix.length) === 0x2f && text.startsWith(prefix)) best = prefix;
  }
  return best;
}

function stripTrailingSlashes(prefix: string): string {
  let end = prefix.length;
  while (end > 0 && prefix.charCodeAt(end - 1) === 0x2f) end--;
  return end === prefix.length ? prefix : prefix.slice(0, end);
}

// The apiserver refuses `.` and `..` as names (they are path segments that move): no object key holds one.
const isOdd = (s: string) => s === '.' || s === '..';
const isOddOrLossy = (s: string) => isOdd(s) || s.includes('\ufffd');

function parseSegments(prefix: string, segments: string[], odd: (segment: string) => boolean): ParsedKey {
  const head = segments[0]!;
  if (NON_OBJECT_RESOURCES.has(head)) return { type: 'non-object', object: false, prefix, resource: head };
  // Built-in resources are stored under their bare plural; only a group (always dotted, a DNS name: no empty label)
  // comes before a resource. A dotted head that is no group (`..`, `.x`) names nothing.
  const dotted = head.includes('.');
  const group = dotted && !head.split('.').includes('') && !odd(head) ? head : undefined;
  let index = group === undefined ? 0 : 1;
  let resource = dotted && group === undefined ? '' : (segments[index] ?? '');
  if (odd(resource)) resource = '';
  if (group === undefined && !dotted) {
    const alias = matchStoragePath(segments);
    if (alias) {
      resource = alias.resource;
      index = alias.segments - 1;
    }
  }
  const rest = segments.length - index - 1;
  const last = segments[segments.length - 1]!;
  if (segments.some(odd)) return unrecognised(prefix, resource, group);
  if (resource !== '' && rest === 1 && last !== '') {
    return { type: 'object', object: true, prefix, resource, ...(group && { group }), name: last };
  }
  const namespace = segments[segments.length - 2]!;
  if (resource !== '' && rest === 2 && namespace !== '' && last !== '') {
    return { type: 'object', object: true, prefix, resource, ...(group && { group }), namespace, name: last };
  }
  return unrecognised(prefix, resource, group);
}

function unrecognised(prefix: string, resource: string, group: string | undefined): UnrecognisedKey {
  return { type: 'unrecognised', object: false, prefix, ...(resource !== '' && { resource }), ...(group && { group }) };
}

function matchStoragePath(segments: string[]): { resource: string; segments: number } | undefined {
  const longest = MULTI_SEGMENT_HEADS.has(segments[0]!) ? Math.min(MAX_STORAGE_PATH_SEGMENTS, segments.length) : 1;
  for (let n = longest; n >= 1; n--) {
    const resource = STORAGE_PATH_RESOURCES.get(n === 1 ? segments[0]! : segments.slice(0, n).join('/'));
    if (resource !== undefined) return { resource, segments: n };
  }
  return undefined;
}

/**
 * True when a user-given resource name selects this key. The name is an exact plural (`deployments`), optionally
 * group-qualified (`customresourcedefinitions.apiextensions.k8s.io`, `deployments.apps`); it is compared with the
 * parsed resource and group only, never searched for in the key, so `pods` does not select a namespace named pods.
 * A built-in's storage path, as etcdctl shows the key (`useridentities`, `controllers`), names its resource too.
 */
export function resourceMatches(filterName: string, key: ParsedKey): boolean {
  if (key.resource === undefined) return false;
  const filter = filterName.trim().toLowerCase();
  const dot = filter.indexOf('.');
  const plural = dot < 0 ? filter : filter.slice(0, dot);
  const stored = key.group === undefined && STORAGE_PATH_RESOURCES.get(plural) === key.resource;
  if (plural !== key.resource && !stored) return false;
  if (dot < 0) return true;
  const group = filter.slice(dot + 1);
  return key.group === undefined ? storedWithoutGroup(group) : key.group === group;
}

// Mirrors where the apiserver puts a group's resources: core-style groups (no dot, *.k8s.io) go under the bare
// plural, except the two aggregation groups; OpenShift's API server does the same for its *.openshift.io groups.
function storedWithoutGroup(group: string): boolean {
  if (group === 'apiextensions.k8s.io' || group === 'apiregistration.k8s.io') return false;
  return !group.includes('.') || group.endsWith('.k8s.io') || group.endsWith('.openshift.io');
}

/** Which distribution wrote the data, from the prefixes that hold keys: OpenShift if `/openshift.io` has any. */
export function detectDistribution(prefixesFound: readonly string[]): 'openshift' | 'vanilla' | 'none' {
  const found = prefixesFound.map(stripTrailingSlashes);
  if (found.includes('/openshift.io')) return 'openshift';
  return found.length > 0 ? 'vanilla' : 'none';
}
