import { crc32c } from '@node-rs/crc32';
import { u32At } from './bytes.js';
import type { LeafNode } from './leaf-node.js';
import { BUCKET_LEAF_FLAG, ELEMENT_SIZE, PAGE_HEADER_SIZE } from './page-header.js';

/** What `hashLeafBytes` reports besides the CRC. */
export interface HashedBytes {
  bytes: number;
}

const SINK: HashedBytes = { bytes: 0 };

/**
 * Feeds a leaf's elements into a running CRC-32C the way `etcdctl snapshot status` does (key, then value; a nested
 * bucket's value counts as empty). The node has checked its elements already, so the page's own checks pass.
 */
export function hashLeaf(leaf: LeafNode, crc: number): number {
  return hashLeafBytes(leaf.buffer, leaf.start, leaf.end, leaf.count, crc, SINK)!;
}

/**
 * Hashes a leaf page straight from its bytes (`buf[start..end)`, `count` elements), checked as a LeafNode checks
 * them: the page scan hashes every leaf of the file, and building a node for each costs more than the hashing around
 * it. bbolt stores each key right before its value and elements back to back, so adjacent elements form one run and
 * a whole page usually costs a single native call. Stores in `out.bytes` how many bytes went into the CRC (for
 * combining CRCs later). Returns undefined, hashing nothing, for a page that fails the checks.
 */
export function hashLeafBytes(buf: Buffer, start: number, end: number, count: number, crc: number, out: HashedBytes): number | undefined {
  const elements = start + PAGE_HEADER_SIZE;
  if (elements + count * ELEMENT_SIZE > end) return undefined;
  let bytes = 0;
  let runStart = 0;
  let runEnd = 0;
  for (let i = 0, e = elements; i < count; i++, e += ELEMENT_SIZE) {
    const keyStart = e + u32At(buf, e + 4);
    const keySize = u32At(buf, e + 8);
    const valueSize = u32At(buf, e + 12);
    if (keyStart + keySize + valueSize > end) return undefined;
    const stop = keyStart + keySize + ((buf[e]! & BUCKET_LEAF_FLAG) !== 0 ? 0 : valueSize);
    if (keyStart !== runEnd) {
      if (runEnd > runStart) crc = crc32c(buf.subarray(runStart, runEnd), crc);
      runStart = keyStart;
    }
    runEnd = stop;
    bytes += stop - keyStart;
  }
  if (runEnd > runStart) crc = crc32c(buf.subarray(runStart, runEnd), crc);
  out.bytes = bytes;
  return crc;
}
