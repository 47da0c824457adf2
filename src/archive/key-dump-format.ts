import { isUtf8 } from 'node:buffer';
import type { KeyRecord, KeysHeader } from '../core/key-record.js';
import { readCanonicalKeyMeta, type KeyFacts } from './key-meta-line.js';

/**
 * The layout of a key dump (`raw` and `filter:` strategies), a plain ustar archive:
 *
 *   reshifter-dump.json          what was dumped: {format, version, apiVersion, etcdVersion, revision, prefixes, ...}
 *   keys/000000001.json          key 1: one JSON line {n, key, keyBase64, valueSize, createRevision, ...}
 *   keys/000000001.value         key 1: the value's bytes, exactly
 *   keys/000000002.json ...      one pair per key, in etcd's key order
 *   reshifter-end.json           {keys, valueBytes}: a dump without it was cut short
 *
 * Keys are bytes, never paths: entries are numbered, the key is in the JSON (base64 always, text when it is UTF-8).
 * `tar --zstd -xOf dump.tar.zst --wildcards 'keys/*.json'` prints the index as JSON lines (`-z` for a `.tar.gz`).
 */
export const DUMP_FORMAT = 'reshifter-key-dump';
export const DUMP_VERSION = 1;
export const HEADER_ENTRY = 'reshifter-dump.json';
export const END_ENTRY = 'reshifter-end.json';

/** Largest value a dump may hold (etcd's request limit is 1.5 MiB by default; some clusters raise it). */
export const MAX_VALUE_BYTES = 64 * 1024 * 1024;
/** Largest key entry (the key twice, base64 and text, plus a few numbers). */
export const MAX_META_BYTES = 8 * 1024 * 1024;
export const MAX_HEADER_BYTES = 1024 * 1024;

/** The first entry: what the dump covers. */
export interface DumpHeader extends KeysHeader {
  format: typeof DUMP_FORMAT;
  version: typeof DUMP_VERSION;
  createdAt: string;
  /** The resource and namespace filters applied, when any. */
  selection?: {
    resourceSets: string[][];
    excludeResources: string[];
    includeNamespaces: string[];
    excludeNamespaces: string[];
  };
}

/** The last entry: counts that prove the dump is whole. */
export interface DumpEnd {
  keys: number;
  valueBytes: number;
}

/** One key's JSON line. */
export interface KeyMeta extends KeyFacts {
  /** The key as text, present only when the bytes are valid UTF-8 (so jq users can read it). */
  key?: string;
  keyBase64: string;
}

/** Entry names of the n-th key (from 1). */
export function keyEntryNames(n: number): { meta: string; value: string } {
  const base = `keys/${String(n).padStart(9, '0')}`;
  return { meta: `${base}.json`, value: `${base}.value` };
}

/**
 * True when `name` is the entry of the n-th key with `suffix` (`.json` or `.value`): `keyEntryNames(n)` without
 * building the names, which the reader would otherwise do for each of the two entries of every key.
 */
export function isKeyEntryName(name: string, n: number, suffix: '.json' | '.value'): boolean {
  let digits = 1;
  for (let v = n; v >= 10; v = Math.floor(v / 10)) digits++;
  const end = 5 + Math.max(9, digits);
  if (name.length !== end + suffix.length || !name.startsWith('keys/') || !name.endsWith(suffix)) return false;
  let v = n;
  for (let i = end - 1; i >= 5; i--, v = Math.floor(v / 10)) if (name.charCodeAt(i) !== 0x30 + (v % 10)) return false;
  return true;
}

/** The key as text when its bytes are exactly valid UTF-8 (which then decode and encode back to the same bytes). */
export function keyText(key: Buffer): string | undefined {
  return isUtf8(key) ? key.toString('utf8') : undefined;
}

/** The JSON line of a key, as text. */
export function keyMetaLine(n: number, r: KeyRecord): string {
  const text = keyText(r.key);
  const meta: KeyMeta = {
    n,
    ...(text !== undefined && { key: text }),
    keyBase64: r.key.toString('base64'),
    valueSize: r.value.length,
    createRevision: r.createRevision,
    modRevision: r.modRevision,
    version: r.version,
    ...(r.lease !== undefined && { lease: r.lease }),
    ...(r.ttl !== undefined && { ttl: r.ttl }),
  };
  return `${JSON.stringify(meta)}\n`;
}

const COUNT = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const COUNT_FIELDS = ['valueSize', 'createRevision', 'modRevision', 'version'] as const;
const LEASE_ID = /^\d{1,20}$/;

/**
 * Parses and checks a key's JSON line; throws an Error saying what is wrong. A line as reshifter writes it is read
 * without JSON.parse (key-meta-line.ts: a tenth of a restore's garbage was these lines' strings and objects).
 */
export function decodeKeyMeta(bytes: Buffer, n: number): { meta: KeyFacts; key: Buffer } {
  return readCanonicalKeyMeta(bytes, n, MAX_VALUE_BYTES) ?? parseKeyMetaJson(bytes, n);
}

/** decodeKeyMeta through JSON.parse: any line, and the messages for those that are wrong. */
export function parseKeyMetaJson(bytes: Buffer, n: number): { meta: KeyMeta; key: Buffer } {
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`is not JSON (${(err as Error).message})`);
  }
  if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new Error('is not a JSON object');
  if (m.n !== n) throw new Error(`says it is key ${JSON.stringify(m.n)}, expected ${n}`);
  if (typeof m.keyBase64 !== 'string' || !BASE64.test(m.keyBase64) || m.keyBase64.length % 4 !== 0) throw new Error('has no valid "keyBase64"');
  const key = Buffer.from(m.keyBase64, 'base64');
  if (key.length === 0) throw new Error('has an empty key');
  if (m.key !== undefined && m.key !== keyText(key)) throw new Error('"key" and "keyBase64" differ');
  for (const f of COUNT_FIELDS) {
    if (!COUNT(m[f])) throw new Error(`field "${f}" is missing or not a count`);
  }
  if ((m.valueSize as number) > MAX_VALUE_BYTES) throw new Error(`value of ${m.valueSize as number} bytes is more than the ${MAX_VALUE_BYTES} a dump may hold`);
  if (m.lease !== undefined && (typeof m.lease !== 'string' || !LEASE_ID.test(m.lease))) throw new Error('field "lease" is not a lease id');
  if (m.ttl !== undefined && !COUNT(m.ttl)) throw new Error('field "ttl" is not a count of seconds');
  return { meta: m as unknown as KeyMeta, key };
}
