import type { BoltFile } from './bolt-file.js';
import { findBucket, rootBucket, seekKey, type BucketRoot } from './bucket.js';
import { SnapshotFormatError } from './errors.js';
import { mainRevision } from './revision.js';

/** The names of etcd's backend buckets this reader uses. */
export const KEY_BUCKET = Buffer.from('key');
export const META_BUCKET = Buffer.from('meta');
export const LEASE_BUCKET = Buffer.from('lease');
const FINISHED_COMPACT_REV = Buffer.from('finishedCompactRev');

/** A top-level bucket that etcd always creates; throws when it is missing (the file is not an etcd backend). */
export async function requireBucket(file: BoltFile, name: Buffer): Promise<BucketRoot> {
  const bucket = await findBucket(file, rootBucket(file), name);
  if (bucket === undefined) {
    throw new SnapshotFormatError(`no "${name.toString('latin1')}" bucket: this bbolt file is not an etcd backend`);
  }
  return bucket;
}

/** The revision of the last finished compaction (meta bucket), or 0 when the store was never compacted. */
export async function compactedRevision(file: BoltFile): Promise<number> {
  const meta = await findBucket(file, rootBucket(file), META_BUCKET);
  if (meta === undefined) return 0;
  const found = await seekKey(file, meta, FINISHED_COMPACT_REV);
  if (found === undefined) return 0;
  return mainRevision(found.node.value(found.index), 'meta bucket finishedCompactRev');
}
