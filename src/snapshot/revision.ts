import { describeKey, readI64BE } from './bytes.js';
import { SnapshotFormatError } from './errors.js';

/** etcd's key-bucket key: main and sub revision, big-endian, joined by '_'; a tombstone adds 't'. */
export const REVISION_KEY_SIZE = 17;
export const TOMBSTONE_KEY_SIZE = 18;
const SEPARATOR = 0x5f;
const TOMBSTONE_MARK = 0x74;

/** A decoded key-bucket key. */
export interface Revision {
  main: number;
  sub: number;
  tombstone: boolean;
}

/** Decodes a key of etcd's "key" bucket; throws naming the key when it is not a revision. */
export function parseRevisionKey(key: Buffer, where: string): Revision {
  const tombstone = key.length === TOMBSTONE_KEY_SIZE && key[17] === TOMBSTONE_MARK;
  if ((key.length !== REVISION_KEY_SIZE && !tombstone) || key[8] !== SEPARATOR) {
    throw new SnapshotFormatError(`${where}: key ${describeKey(key)} is not an etcd revision (main_sub[t])`);
  }
  return { main: readI64BE(key, 0), sub: readI64BE(key, 9), tombstone };
}

/** The main revision of a 17-byte revision value (as stored under meta's compaction keys). */
export function mainRevision(bytes: Buffer, where: string): number {
  if (bytes.length < 8) throw new SnapshotFormatError(`${where}: ${bytes.length} bytes is too short for a revision`);
  return readI64BE(bytes, 0);
}
