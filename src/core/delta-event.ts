import type { KeyRecord } from './key-record.js';

/**
 * One change etcd made, as a continuous backup records it: a put (the key's new value and etcd's bookkeeping, as a
 * key dump holds a key) or a delete. The common currency of the watch that records changes, the delta segment
 * artifact, the segmenter and the code that applies changes at restore.
 */
export interface DeltaEvent extends KeyRecord {
  type: 'put' | 'delete';
  /**
   * For a put: etcd's create_revision, mod_revision and version of the key after it. For a delete: mod_revision is the
   * revision of the delete, create_revision and version are 0, the value is empty and there is no lease.
   */
  modRevision: number;
  /**
   * The lease's TTL as granted (seconds), when the recorder could ask etcd: what a restore grants the same lease id
   * with. `ttl` is what the lease had left when the put was seen (see KeyRecord).
   */
  grantedTtl?: number;
  /** When the watch received the change (ms since the epoch, never decreasing along a recording). */
  observedAt: number;
}

/**
 * What the watch hands over at a time: the changes of one watch response (all of them, of whole revisions, in revision
 * order) and how far the recording is complete: every change of the watched keys with a revision at or below
 * `through` has been handed over, in this batch or an earlier one.
 */
export interface DeltaBatch {
  events: DeltaEvent[];
  through: number;
  /** When the response arrived (ms since the epoch); the events' observedAt. */
  receivedAt: number;
}

/** Bytes an event is counted as in a segment: its key and value, plus its entries' headers and JSON line. */
export function eventBytes(e: Pick<DeltaEvent, 'key' | 'value'>): number {
  return e.key.length + e.value.length + EVENT_OVERHEAD;
}

/** A segment's tar entries of one event: two 512-byte headers, a JSON line of ~250 bytes, padding. */
const EVENT_OVERHEAD = 1536;
