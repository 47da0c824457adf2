import type { DeltaEvent } from '../core/delta-event.js';
import { keyText, type KeyMeta } from './key-dump-format.js';

/**
 * The layout of a delta segment (the changes a continuous backup recorded between two points), a plain ustar archive
 * in the key dump's conventions (key-dump-format.ts), so `tar -tf` lists it and `jq` reads its lines:
 *
 *   reshifter-delta.json         what the segment continues: {format, version, cluster, base, baseRevision, fromRevision, ...}
 *   events/000000001.json        change 1: one JSON line {n, type, keyBase64, modRevision, ..., observedAt}
 *   events/000000001.value       change 1, a put: the value's bytes, exactly (a delete has no value entry)
 *   events/000000002.json ...    in revision order; the changes of one revision in etcd's order
 *   reshifter-delta-end.json     {events, puts, deletes, valueBytes, fromRevision, toRevision, ...}: without it the
 *                                segment was cut short
 *
 * The segment covers the revisions fromRevision..toRevision (inclusive): it holds every change of the watched keys in
 * that range. toRevision is only known when the segment is closed, so it is in the end entry (the header is written
 * first, and a segment can be streamed as it is recorded).
 * `tar --zstd -xOf <id>.delta.tar.zst --wildcards 'events/*.json'` prints the changes as JSON lines.
 */
export const SEGMENT_FORMAT = 'reshifter-delta-segment';
export const SEGMENT_VERSION = 1;
export const SEGMENT_HEADER_ENTRY = 'reshifter-delta.json';
export const SEGMENT_END_ENTRY = 'reshifter-delta-end.json';
/** The content type of delta segments in manifests (declared with the others in core/content-type.ts). */
export { DELTA_CONTENT_TYPE } from '../core/content-type.js';
/** The artifact's format part of its name: `<id>.delta.tar.zst`. */
export const DELTA_ARTIFACT_FORMAT = 'delta.tar';

/** The first entry: which chain the segment belongs to, and where it starts. */
export interface SegmentHeader {
  format: typeof SEGMENT_FORMAT;
  version: typeof SEGMENT_VERSION;
  cluster: string;
  /** The id of the full backup the chain starts from, and that backup's revision. */
  base: string;
  baseRevision: number;
  /** The first revision this segment covers: the previous segment's toRevision + 1 (the first: baseRevision + 1). */
  fromRevision: number;
  createdAt: string;
  /** The key prefixes recorded (a key dump chain); absent: every key (a snapshot chain). */
  prefixes?: string[];
}

/** The last entry: counts and the range, which prove the segment is whole. */
export interface SegmentEnd {
  events: number;
  puts: number;
  deletes: number;
  valueBytes: number;
  fromRevision: number;
  toRevision: number;
  /** When the first and the last change were received (absent in a segment without changes). */
  firstEventAt?: string;
  lastEventAt?: string;
}

/** One change's JSON line: a key dump's key line (KeyMeta; `n` counts changes), and what a change adds. */
export interface EventMeta extends KeyMeta {
  type: 'put' | 'delete';
  grantedTtl?: number;
  /** When the watch received the change. */
  observedAt: string;
}

/** Entry names of the n-th change (from 1). */
export function eventEntryNames(n: number): { meta: string; value: string } {
  const base = `events/${String(n).padStart(9, '0')}`;
  return { meta: `${base}.json`, value: `${base}.value` };
}

/** The JSON line of a change, as text. */
export function eventMetaLine(n: number, e: DeltaEvent): string {
  const text = keyText(e.key);
  const meta: EventMeta = {
    n,
    type: e.type,
    ...(text !== undefined && { key: text }),
    keyBase64: e.key.toString('base64'),
    valueSize: e.value.length,
    createRevision: e.createRevision,
    modRevision: e.modRevision,
    version: e.version,
    ...(e.lease !== undefined && { lease: e.lease }),
    ...(e.ttl !== undefined && { ttl: e.ttl }),
    ...(e.grantedTtl !== undefined && { grantedTtl: e.grantedTtl }),
    observedAt: new Date(e.observedAt).toISOString(),
  };
  return `${JSON.stringify(meta)}\n`;
}

/** True when `v` is a canonical ISO 8601 UTC time as Date.toISOString writes it. */
export function isIsoTime(v: unknown): v is string {
  if (typeof v !== 'string' || v.length !== 24) return false;
  const t = Date.parse(v);
  return !Number.isNaN(t) && new Date(t).toISOString() === v;
}
