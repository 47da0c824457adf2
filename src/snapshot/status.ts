import type { BoltFile } from './bolt-file.js';
import { describeKey } from './bytes.js';
import { parseBucketValue, rootBucket } from './bucket.js';
import { ChainedCrc } from './chained-crc.js';
import { SnapshotFormatError } from './errors.js';
import { KEY_BUCKET } from './etcd-buckets.js';
import type { LeafNode } from './leaf-node.js';
import type { PageScan } from './page-scan.js';
import { PageSet } from './page-set.js';
import { mainRevision } from './revision.js';
import { LeafWalker, type WalkStep } from './tree-walk.js';

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

/** Awaits only when the walker had to read from disk. */
async function step<T>(next: T | Promise<T>): Promise<T> {
  return next instanceof Promise ? await next : next;
}

/**
 * Computes hash, revision, totalKey and totalSize of a bbolt file as etcdctl 3.4's `snapshot status` does. With a
 * PageScan of the file, leaves come from the scan and the walk reads only branch pages it did not keep.
 */
export async function boltStatus(file: BoltFile, scan?: PageScan, signal?: AbortSignal): Promise<BoltStatus> {
  const crc = new ChainedCrc(scan);
  let totalKey = 0;
  let steps = 0;
  let lastRevisionLeaf: LeafNode | number | undefined;
  // One set for the whole walk: no page may belong to two buckets.
  const seen = new PageSet(file.pageCount);
  const buckets = new LeafWalker(file, rootBucket(file), seen);
  for (let top = await step(buckets.next()); top !== null; top = await step(buckets.next())) {
    const names = top as LeafNode;
    for (let i = 0; i < names.count; i++) {
      const name = names.key(i);
      if (!names.isBucket(i)) {
        throw new SnapshotFormatError(`${names.where}: top-level key ${describeKey(name)} is not a bucket`);
      }
      crc.addBytes(name);
      const isKeyBucket = name.equals(KEY_BUCKET);
      const leaves = new LeafWalker(file, parseBucketValue(names.value(i), describeKey(name)), seen, scan);
      for (let next = leaves.next(); ; next = leaves.next()) {
        const leaf: WalkStep | null = next instanceof Promise ? await next : next;
        if (leaf === null) break;
        // Now and then: a walk without a scan reads every leaf from disk.
        if (++steps % 1024 === 0) signal?.throwIfAborted();
        const count = typeof leaf === 'number' ? (scan as PageScan).count[leaf]! : leaf.count;
        if (typeof leaf === 'number') crc.addScanned(leaf);
        else crc.addLeaf(leaf);
        totalKey += count;
        if (isKeyBucket && count > 0) lastRevisionLeaf = leaf;
      }
    }
  }
  let revision = 0;
  if (lastRevisionLeaf !== undefined) {
    const leaf = typeof lastRevisionLeaf === 'number'
      ? ((await file.readNode(lastRevisionLeaf, 'bucket "key"')) as LeafNode)
      : lastRevisionLeaf;
    revision = mainRevision(leaf.key(leaf.count - 1), `${leaf.where}: last key`);
  }
  return { hash: crc.crc, revision, totalKey, totalSize: file.pageCount * file.pageSize };
}
