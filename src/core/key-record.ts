/**
 * One etcd key as a key dump holds it: the bytes of key and value, etcd's bookkeeping for it, and its lease.
 * The common currency of the dump readers (v3 paged range, v2 walk), the dump archive and the restore writers.
 */
export interface KeyRecord {
  /** The key's bytes exactly as stored: keys are bytes, never paths. */
  key: Buffer;
  value: Buffer;
  /** etcd v3 create_revision / mod_revision / version; for v2 data createdIndex / modifiedIndex and version 0. */
  createRevision: number;
  modRevision: number;
  version: number;
  /** The id (decimal) of the key's lease in the source etcd; absent when the key had none (v2 TTLs have no id). */
  lease?: string;
  /** Seconds the key had left when it was read (its lease's remaining TTL, or its v2 TTL); 0 means it had expired. */
  ttl?: number;
}

/** True when the record came with an expiry (a v3 lease or a v2 TTL): it must never be restored as a permanent key. */
export function isExpiring(r: Pick<KeyRecord, 'lease' | 'ttl'>): boolean {
  return r.lease !== undefined || r.ttl !== undefined;
}

/** What a stream of key records covers, known before its first record. */
export interface KeysHeader {
  /** The etcd API the keys were read from: v2 data goes back to v2 when the target serves it. */
  apiVersion: 'v2' | 'v3';
  etcdVersion: string;
  /** The revision the keys were read at (v3), or the etcd index when a v2 walk started. */
  revision: number;
  /** The key prefixes covered; `/` is every key. */
  prefixes: string[];
}

/**
 * The keys of a backup as restore, stats and diff read them: the header, and as many passes over the records as the
 * reader needs (each call of `records` reads the backup again; memory never holds the keys).
 */
export interface KeyStream {
  header: KeysHeader;
  records(): AsyncIterable<KeyRecord>;
  /**
   * The same pass as `records`, in batches as the reader has them (a key dump's: the keys of one decoded chunk), for
   * a reader that goes through every key and would otherwise await each; optional.
   */
  recordBatches?(): AsyncIterable<readonly KeyRecord[]>;
  /**
   * A snapshot's: the revisions of its key bucket that the current pass of `records` has gone through to find the live
   * keys, which it does before it gives the first (for progress: `keys: 0` alone reads as stuck); optional.
   */
  scanned?(): number;
}
