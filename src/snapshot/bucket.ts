import { describeKey, readU64LE } from './bytes.js';
import type { BoltFile } from './bolt-file.js';
import { BranchNode } from './branch-node.js';
import { SnapshotFormatError } from './errors.js';
import { LeafNode } from './leaf-node.js';
import { LEAF_PAGE, PAGE_HEADER_SIZE, readPageHeader } from './page-header.js';

/** bbolt's bucket header: root page u64, sequence u64; an inline bucket's page follows it. */
const BUCKET_HEADER_SIZE = 16;
/** Deeper than any real bbolt tree (a few levels even for TB files); stops a forged loop of branch pages. */
export const MAX_TREE_DEPTH = 64;

/** Where a bucket's tree starts: a page, or a leaf page stored inline in the parent's value. */
export type BucketRoot =
  | { kind: 'page'; pgid: number; name: string }
  | { kind: 'inline'; node: LeafNode; name: string };

/** The root bucket of the file: its entries are the top-level buckets. */
export function rootBucket(file: BoltFile): BucketRoot {
  return { kind: 'page', pgid: file.meta.root, name: 'root bucket' };
}

/** Parses a bucket value (an element flagged as a sub-bucket) named `name` in messages. */
export function parseBucketValue(value: Buffer, name: string): BucketRoot {
  if (value.length < BUCKET_HEADER_SIZE) {
    throw new SnapshotFormatError(`bucket ${name}: header is ${value.length} bytes, expected at least ${BUCKET_HEADER_SIZE}`);
  }
  const pgid = readU64LE(value, 0);
  if (pgid !== 0) return { kind: 'page', pgid, name };
  if (value.length < BUCKET_HEADER_SIZE + PAGE_HEADER_SIZE) {
    throw new SnapshotFormatError(`inline bucket ${name}: value of ${value.length} bytes has no room for its page`);
  }
  const header = readPageHeader(value, BUCKET_HEADER_SIZE);
  if (header.flags !== LEAF_PAGE) {
    throw new SnapshotFormatError(`inline bucket ${name}: page flags 0x${header.flags.toString(16)}, expected a leaf page`);
  }
  const node = new LeafNode(value, BUCKET_HEADER_SIZE, value.length, 0, header.count, `inline bucket ${name}`);
  return { kind: 'inline', node, name };
}

/** Index of the last key <= `key` in a sorted node (0 when all are greater): the child to descend into. */
function childIndex(node: BranchNode, key: Buffer): number {
  let lo = 0;
  let hi = node.count - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (node.key(mid).compare(key) <= 0) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Index of `key` in a leaf, or -1. */
function leafIndex(node: LeafNode, key: Buffer): number {
  let lo = 0;
  let hi = node.count - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const c = node.key(mid).compare(key);
    if (c === 0) return mid;
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/** Finds the leaf element for `key` in a bucket's tree: the node and index, or undefined. */
export async function seekKey(
  file: BoltFile,
  bucket: BucketRoot,
  key: Buffer,
): Promise<{ node: LeafNode; index: number } | undefined> {
  let node: LeafNode | BranchNode;
  if (bucket.kind === 'inline') {
    node = bucket.node;
  } else {
    node = await file.readNode(bucket.pgid, `bucket ${bucket.name}`);
    for (let depth = 0; node instanceof BranchNode; depth++) {
      if (depth >= MAX_TREE_DEPTH) {
        throw new SnapshotFormatError(`bucket ${bucket.name}: tree deeper than ${MAX_TREE_DEPTH} levels at page ${node.pgid} (a cycle?)`);
      }
      node = await file.readNode(node.child(childIndex(node, key)), `bucket ${bucket.name}`);
    }
  }
  const index = leafIndex(node, key);
  return index < 0 ? undefined : { node, index };
}

/** The sub-bucket `name` of `parent`, or undefined when there is none. Throws when `name` holds a plain value. */
export async function findBucket(file: BoltFile, parent: BucketRoot, name: Buffer): Promise<BucketRoot | undefined> {
  const found = await seekKey(file, parent, name);
  if (found === undefined) return undefined;
  const label = describeKey(name);
  if (!found.node.isBucket(found.index)) {
    throw new SnapshotFormatError(`${found.node.where}: key ${label} is a value, expected a bucket`);
  }
  return parseBucketValue(found.node.value(found.index), label);
}
