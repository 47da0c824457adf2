import { RecordReader } from './record-reader.js';

/** mvccpb.KeyValue as stored in etcd's "key" bucket. Buffers are views into the page: copy what you keep. */
export interface KeyValueRecord {
  key: Buffer;
  createRevision: number;
  modRevision: number;
  version: number;
  value: Buffer;
  /** Lease id; 0n when the key has no lease. */
  lease: bigint;
}

const EMPTY: Buffer = Buffer.alloc(0);

/** Decodes mvccpb.KeyValue (key=1, create_revision=2, mod_revision=3, version=4, value=5, lease=6). */
export function decodeKeyValue(message: Buffer, where: string): KeyValueRecord {
  const r = new RecordReader(message, where);
  const kv: KeyValueRecord = { key: EMPTY, createRevision: 0, modRevision: 0, version: 0, value: EMPTY, lease: 0n };
  while (!r.done) {
    const tag = r.tag();
    switch (tag) {
      case (1 << 3) | 2: kv.key = r.bytes(); break;
      case (2 << 3) | 0: kv.createRevision = r.safeInt('create_revision'); break;
      case (3 << 3) | 0: kv.modRevision = r.safeInt('mod_revision'); break;
      case (4 << 3) | 0: kv.version = r.safeInt('version'); break;
      case (5 << 3) | 2: kv.value = r.bytes(); break;
      case (6 << 3) | 0: kv.lease = r.int64(); break;
      default: r.skip(tag & 7);
    }
  }
  return kv;
}

/** Only the user key of a mvccpb.KeyValue: what the live-key scan needs from every revision. */
export function decodeUserKey(message: Buffer, where: string): Buffer {
  // etcd writes field 1 first; the general loop covers any other order.
  const r = new RecordReader(message, where);
  let key: Buffer = EMPTY;
  while (!r.done) {
    const tag = r.tag();
    if (tag === ((1 << 3) | 2)) key = r.bytes();
    else r.skip(tag & 7);
  }
  return key;
}

/**
 * The user key from the first bytes of a mvccpb.KeyValue, as etcd writes it (field 1 first), or undefined when those
 * bytes do not start with it whole: the caller then reads the whole record (decodeUserKey).
 */
export function userKeyFromHead(head: Buffer): Buffer | undefined {
  if (head.length === 0 || head[0] !== ((1 << 3) | 2)) return undefined;
  let length = 0;
  let scale = 1;
  for (let at = 1; at < Math.min(head.length, 10); at++) {
    const b = head[at]!;
    length += (b & 0x7f) * scale;
    if (b < 0x80) return at + 1 + length <= head.length ? head.subarray(at + 1, at + 1 + length) : undefined;
    scale *= 128;
  }
  return undefined;
}
