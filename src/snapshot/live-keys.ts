import type { BoltFile } from './bolt-file.js';
import { hasPrefix } from './bytes.js';
import type { BucketRoot } from './bucket.js';
import { SnapshotFormatError, SnapshotRevisionError } from './errors.js';
import { compactedRevision, KEY_BUCKET, requireBucket } from './etcd-buckets.js';
import { decodeKeyValue, decodeUserKey } from './key-value.js';
import { LeafNode } from './leaf-node.js';
import { parseRevisionKey } from './revision.js';
import { leafNodes } from './tree-walk.js';

export interface LiveKeysOptions {
  /** State at this revision; undefined or 0 means the latest, as in `etcdctl get --rev`. */
  revision?: number;
  /** Only keys starting with these bytes. */
  prefix?: Buffer | string;
}

/** A key as `etcdctl get` would return it at the requested revision. Buffers are copies the caller may keep. */
export interface LiveKey {
  key: Buffer;
  value: Buffer;
  createRevision: number;
  modRevision: number;
  version: number;
  /** Lease id; 0n when the key has no lease. */
  lease: bigint;
}

/** Elements per page fit in 16 bits (bbolt's count field), so a location packs into one exact number. */
const SLOTS = 0x1_0000;

/**
 * Where each live user key's newest revision <= R lives, as page id * SLOTS + element index (page 0: the inline
 * bucket). The key bucket is ordered by revision, so this needs one pass over it; only keys and locations are held,
 * never values.
 */
async function locateLiveKeys(
  file: BoltFile,
  bucket: BucketRoot,
  revision: number,
  prefix: Buffer,
): Promise<{ locations: Map<string, number>; lastMain: number }> {
  const locations = new Map<string, number>();
  let lastMain = 0;
  for await (const leaf of leafNodes(file, bucket)) {
    for (let i = 0; i < leaf.count; i++) {
      if (leaf.isBucket(i)) throw new SnapshotFormatError(`${leaf.where}: element ${i} of bucket "key" is a bucket`);
      const rev = parseRevisionKey(leaf.key(i), leaf.where);
      if (rev.main > revision) return { locations, lastMain: rev.main };
      lastMain = rev.main;
      const userKey = decodeUserKey(leaf.value(i), `${leaf.where} element ${i}`);
      if (!hasPrefix(userKey, prefix)) continue;
      // latin1 maps bytes 1:1 to one-byte string characters: exact, compact, and sorts in byte order.
      const name = userKey.toString('latin1');
      if (rev.tombstone) locations.delete(name);
      else locations.set(name, leaf.pgid * SLOTS + i);
    }
  }
  return { locations, lastMain };
}

/** Checks a requested revision against what the snapshot holds, as etcd does (ErrCompacted, ErrFutureRev). */
function checkRevision(requested: number, compacted: number, latest: number): void {
  if (requested < compacted) {
    throw new SnapshotRevisionError(`revision ${requested} has been compacted; the oldest revision in this snapshot is ${compacted}`);
  }
  if (requested > latest) {
    throw new SnapshotRevisionError(`revision ${requested} is newer than this snapshot (latest revision ${latest})`);
  }
}

/**
 * The keys live at a revision (default: the latest), in key order like an etcd range, with their values and
 * metadata. Memory holds each live key once plus a number; values are read back one at a time.
 */
export async function* liveKeysOf(file: BoltFile, opts: LiveKeysOptions = {}): AsyncGenerator<LiveKey> {
  const requested = opts.revision ?? 0;
  if (!Number.isSafeInteger(requested) || requested < 0) {
    throw new SnapshotRevisionError(`revision must be a non-negative integer, got ${requested}`);
  }
  const prefix = typeof opts.prefix === 'string' ? Buffer.from(opts.prefix) : opts.prefix ?? Buffer.alloc(0);
  const bucket = await requireBucket(file, KEY_BUCKET);
  const compacted = requested > 0 ? await compactedRevision(file) : 0;
  // Checked before the scan too, so a compacted request fails fast.
  if (requested > 0 && requested < compacted) checkRevision(requested, compacted, Infinity);
  const { locations, lastMain } = await locateLiveKeys(file, bucket, requested > 0 ? requested : Infinity, prefix);
  if (requested > 0 && requested > lastMain) checkRevision(requested, compacted, Math.max(lastMain, compacted));

  const names = [...locations.keys()].sort();
  let node: LeafNode | undefined;
  for (const name of names) {
    const location = locations.get(name)!;
    const pgid = Math.floor(location / SLOTS);
    const index = location % SLOTS;
    if (node?.pgid !== pgid) {
      const read = bucket.kind === 'inline' && pgid === 0 ? bucket.node : await file.readNode(pgid, 'bucket "key"');
      if (!(read instanceof LeafNode)) throw new SnapshotFormatError(`${read.where}: changed from a leaf to a branch page`);
      node = read;
    }
    const kv = decodeKeyValue(node.value(index), `${node.where} element ${index}`);
    yield {
      key: Buffer.from(kv.key),
      value: Buffer.from(kv.value),
      createRevision: kv.createRevision,
      modRevision: kv.modRevision,
      version: kv.version,
      lease: kv.lease,
    };
  }
}
