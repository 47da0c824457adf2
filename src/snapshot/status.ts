import { crc32c } from '@node-rs/crc32';
import type { BoltFile } from './bolt-file.js';
import { describeKey } from './bytes.js';
import { hashLeaf } from './bucket-hash.js';
import { parseBucketValue, rootBucket } from './bucket.js';
import { SnapshotFormatError } from './errors.js';
import { PageSet } from './page-set.js';
import { mainRevision } from './revision.js';
import { leafNodes } from './tree-walk.js';

/** The numbers `etcdctl snapshot status -w json` prints (etcd 3.4 semantics). */
export interface BoltStatus {
  /** CRC-32C over every top-level bucket's name, then its keys and values, in key order. */
  hash: number;
  /** Main revision of the last key in the "key" bucket (0 when empty). */
  revision: number;
  /** Elements of all top-level buckets (a nested bucket counts as one element; its contents are not visited). */
  totalKey: number;
  /** pgid * pageSize. */
  totalSize: number;
}

const KEY_BUCKET = Buffer.from('key');

/** Computes hash, revision, totalKey and totalSize of a bbolt file as etcdctl 3.4's `snapshot status` does. */
export async function boltStatus(file: BoltFile): Promise<BoltStatus> {
  let hash = 0;
  let totalKey = 0;
  let lastRevisionKey: Buffer | undefined;
  // One set for the whole walk: no page may belong to two buckets.
  const seen = new PageSet(file.pageCount);
  for await (const top of leafNodes(file, rootBucket(file), seen)) {
    for (let i = 0; i < top.count; i++) {
      const name = top.key(i);
      if (!top.isBucket(i)) {
        throw new SnapshotFormatError(`${top.where}: top-level key ${describeKey(name)} is not a bucket`);
      }
      hash = crc32c(name, hash);
      const isKeyBucket = name.equals(KEY_BUCKET);
      for await (const leaf of leafNodes(file, parseBucketValue(top.value(i), describeKey(name)), seen)) {
        totalKey += leaf.count;
        hash = hashLeaf(leaf, hash);
        if (isKeyBucket && leaf.count > 0) lastRevisionKey = leaf.key(leaf.count - 1);
      }
    }
  }
  const revision = lastRevisionKey === undefined ? 0 : mainRevision(lastRevisionKey, 'last key of bucket "key"');
  return { hash, revision, totalKey, totalSize: file.pageCount * file.pageSize };
}
