import type { BoltFile } from './bolt-file.js';
import { BranchNode } from './branch-node.js';
import { MAX_TREE_DEPTH, findBucket, rootBucket, seekKey, type BucketRoot } from './bucket.js';
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

/**
 * The main revision of the last key of the "key" bucket (0 when it is empty): the snapshot's revision, as `etcdctl
 * snapshot status` (and the reader's status) gives it, and the revision its live keys are read at by default. The
 * bucket is ordered by revision, so its last key is at the end of its rightmost path: a few pages, not the file.
 * `signal` (the reader's) stops it between reads, as it stops the walks of keys.
 */
export async function lastRevision(file: BoltFile, signal?: AbortSignal): Promise<number> {
  const bucket = await requireBucket(file, KEY_BUCKET);
  signal?.throwIfAborted();
  let node = bucket.kind === 'inline' ? bucket.node : await file.readNode(bucket.pgid, 'bucket "key"');
  for (let depth = 0; node instanceof BranchNode; depth++) {
    signal?.throwIfAborted();
    if (depth >= MAX_TREE_DEPTH) {
      throw new SnapshotFormatError(`bucket "key": tree deeper than ${MAX_TREE_DEPTH} levels at page ${node.pgid} (a cycle?)`);
    }
    node = await file.readNode(node.child(node.count - 1), 'bucket "key"');
  }
  return node.count === 0 ? 0 : mainRevision(node.key(node.count - 1), `${node.where}: last key`);
}
