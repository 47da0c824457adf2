import type { KeyRecord } from '../core/key-record.js';
import type { ExistingKey } from '../core/restore-plan.js';

/** Where a key dump is restored to: an etcd, through its v3 or v2 API. */
export interface RestoreTarget {
  readonly apiVersion: 'v2' | 'v3';
  /** What the target holds for each key (undefined: absent), in the order given. */
  existing(keys: readonly Buffer[]): Promise<Array<ExistingKey | undefined>>;
  /** Writes the records (each with a fresh lease of its remaining TTL when it had one). */
  write(records: readonly KeyRecord[]): Promise<void>;
  /**
   * Writes `records` only if none of `keys` exists, atomically, in one round trip; when some exist, writes nothing
   * and returns what `existing(keys)` would. Optional: a target without it is always read first.
   */
  createIfAbsent?(keys: readonly Buffer[], records: readonly KeyRecord[]): Promise<Array<ExistingKey | undefined> | undefined>;
  /** Reads what the target needs before its first write (once; again after a failure), as `key` may be read. Optional. */
  prepare?(key: Buffer): Promise<void>;
  close(): void;
}
