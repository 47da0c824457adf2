import { crc32c } from '@node-rs/crc32';
import type { LeafNode } from './leaf-node.js';

/**
 * Feeds a leaf's elements into a running CRC-32C the way `etcdctl snapshot status` does (key, then value; a nested
 * bucket's value counts as empty). bbolt stores each key right before its value and elements back to back, so
 * adjacent elements form one run and a whole page usually costs a single native call.
 */
export function hashLeaf(leaf: LeafNode, crc: number): number {
  return hashLeafCounting(leaf, crc, SINK);
}

/** What `hashLeafCounting` reports besides the CRC. */
export interface HashedBytes {
  bytes: number;
}

const SINK: HashedBytes = { bytes: 0 };

/** `hashLeaf`, also storing in `out.bytes` how many bytes went into the CRC (for combining CRCs later). */
export function hashLeafCounting(leaf: LeafNode, crc: number, out: HashedBytes): number {
  const buf = leaf.buffer;
  let bytes = 0;
  let runStart = 0;
  let runEnd = 0;
  for (let i = 0; i < leaf.count; i++) {
    const start = leaf.keyStart(i);
    const end = start + leaf.keySize(i) + (leaf.isBucket(i) ? 0 : leaf.valueSize(i));
    if (start !== runEnd) {
      if (runEnd > runStart) crc = crc32c(buf.subarray(runStart, runEnd), crc);
      runStart = start;
    }
    runEnd = end;
    bytes += end - start;
  }
  if (runEnd > runStart) crc = crc32c(buf.subarray(runStart, runEnd), crc);
  out.bytes = bytes;
  return crc;
}
