import type { BoltFile } from './bolt-file.js';
import { SnapshotFormatError } from './errors.js';
import type { KeyLocation } from './key-spill.js';
import { decodeKeyValue, type KeyValueRecord } from './key-value.js';

/**
 * What is read of a big leaf (BIG_LEAF_BYTES) when only its keys are wanted, or where its live value lies: its elements
 * and the heads of its values. bbolt keeps up to four values of a megabyte in one leaf, a live one beside superseded
 * revisions.
 */
export const LEAF_HEAD_BYTES = 16 * 1024;

/**
 * Leaves spanning more than this are read by their head when only keys are wanted; smaller ones whole, through the
 * cache's read-ahead: a value of tens of kilobytes costs less read with its neighbours than read apart (a slow disk
 * pays for every read).
 */
export const BIG_LEAF_BYTES = 256 * 1024;

/** Big values read at once. */
const CONCURRENCY = 4;

/** A leaf spanning more than this, whose live value is under half of it, has that value read alone (inBigLeaf). */
const ALONE_ABOVE_BYTES = 1024 * 1024;

/**
 * Whether the value at `loc` is read alone: it lies in a leaf of over a megabyte that is mostly other data (superseded
 * revisions of a big value beside it). Any other leaf is read whole, with its neighbours in one read (readLeaves):
 * values of tens of kilobytes, several live ones a leaf, read apart cost two reads each, which a slow disk pays for.
 */
export function inBigLeaf(loc: KeyLocation, pageSize: number): boolean {
  const bytes = loc.span * pageSize;
  return loc.pgid !== 0 && bytes > ALONE_ABOVE_BYTES && loc.valueSize * 2 < bytes;
}

/**
 * The records at `locations` of big leaves, each read alone: the leaf's head for where the element lies, then the
 * element's bytes into a buffer of their own, which the record's value is a view of (no copy, and nothing of the
 * leaf's other values read). `done(i, record)` gets each as it is read; the key is a copy.
 */
export async function readBigValues(
  file: BoltFile,
  locations: readonly KeyLocation[],
  done: (i: number, record: KeyValueRecord) => void,
): Promise<void> {
  let next = 0;
  const reader = async (): Promise<void> => {
    const head = Buffer.allocUnsafe(LEAF_HEAD_BYTES);
    while (next < locations.length) {
      const i = next++;
      done(i, await readBigValue(file, locations[i]!, head));
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, locations.length) }, reader));
}

async function readBigValue(file: BoltFile, loc: KeyLocation, head: Buffer): Promise<KeyValueRecord> {
  const offset = file.offsetOf(loc.pgid);
  await file.source.readInto(head, offset, `page ${loc.pgid}`);
  const leaf = file.leafHeadFromBytes(loc.pgid, loc.span, head, 'bucket "key"');
  if (loc.index >= leaf.count || leaf.valueSize(loc.index) !== loc.valueSize) {
    throw new SnapshotFormatError(`${leaf.where}: changed while being read`);
  }
  const keySize = leaf.keySize(loc.index);
  const bytes = Buffer.allocUnsafe(loc.valueSize);
  await file.source.readInto(bytes, offset + leaf.keyStart(loc.index) - leaf.start + keySize, `page ${loc.pgid} element ${loc.index}`);
  const kv = decodeKeyValue(bytes, `${leaf.where} element ${loc.index}`);
  return { ...kv, key: Buffer.from(kv.key) };
}
