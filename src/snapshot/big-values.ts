import type { BoltFile } from './bolt-file.js';
import { SnapshotFormatError } from './errors.js';
import type { KeyLocation } from './key-spill.js';
import { decodeKeyValue, type KeyValueRecord } from './key-value.js';

/**
 * A leaf spanning more than this holds values of hundreds of kilobytes or megabytes in its overflow pages (bbolt keeps
 * up to four such values in one leaf, a live one beside superseded revisions): a walk that needs keys reads its head
 * only, and the value pass reads each live value alone rather than the whole leaf.
 */
export const LEAF_HEAD_BYTES = 16 * 1024;

/** Big values read at once. */
const CONCURRENCY = 4;

/** Whether the value at `loc` lies in a leaf big enough to be read element by element (see LEAF_HEAD_BYTES). */
export function inBigLeaf(loc: KeyLocation, pageSize: number): boolean {
  return loc.pgid !== 0 && loc.span * pageSize > LEAF_HEAD_BYTES;
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
