import { varintBytes } from '../core/varint.js';

/**
 * The protobuf bytes of the one etcd transaction a restore sends many of (etcdserverpb.TxnRequest: "create these keys
 * if none of those exists", or plain puts), and the one fact it reads from the reply (TxnResponse.succeeded). Written
 * by hand because etcd3's protobufjs path built, per key, a RequestOp, a PutRequest and a Compare object, a Long for
 * each int64, and decoded a ResponseHeader of four Longs for every put in the reply: ~40% of the JS heap a restore of
 * 100k keys allocated. The bytes are those protobufjs writes for the same request (fields in number order, zero
 * enums written), which the unit tests check against etcd3's own definitions.
 */

/** A put of a transaction: the key and its value (the lease, when it has one, is given beside it: see encodeTxn). */
export interface TxnPut {
  key: Buffer;
  value: Buffer;
}

// Field tags: (field number << 3) | wire type (0 varint, 2 length-delimited).
const TXN_COMPARE = 0x0a; // TxnRequest.compare = 1
const TXN_SUCCESS = 0x12; // TxnRequest.success = 2
const OP_REQUEST_PUT = 0x12; // RequestOp.request_put = 2
const PUT_KEY = 0x0a; // PutRequest.key = 1
const PUT_VALUE = 0x12; // PutRequest.value = 2
const PUT_LEASE = 0x18; // PutRequest.lease = 3 (int64)
const CMP_RESULT = 0x08; // Compare.result = 1 (EQUAL = 0)
const CMP_TARGET = 0x10; // Compare.target = 2 (VERSION = 0)
const CMP_KEY = 0x1a; // Compare.key = 3
const CMP_VERSION = 0x20; // Compare.version = 4 (int64, in the target_union oneof: written even when 0)
const RESP_SUCCEEDED = 0x10; // TxnResponse.succeeded = 2 (bool)

/** Bytes of an unsigned varint below 2^32 (protobuf lengths). */
function varintSize(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;
}

/** A field of bytes: tag, length, bytes. */
function bytesField(n: number): number {
  return 1 + varintSize(n) + n;
}

/** The varint of an int64 given in decimal (a lease id), two's complement as protobuf writes a negative one. */
function int64Varint(decimal: string): Buffer {
  return varintBytes(BigInt.asUintN(64, BigInt(decimal)));
}

/** Compare{result: EQUAL, target: VERSION, key, version: 0}: the key does not exist. */
function compareSize(key: Buffer): number {
  return 2 + 2 + bytesField(key.length) + 2;
}

function putSize(p: TxnPut, lease: Buffer | undefined): number {
  return bytesField(p.key.length) + bytesField(p.value.length) + (lease === undefined ? 0 : 1 + lease.length);
}

/** Writes protobuf fields into one buffer, front to back. */
class Writer {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  varint(n: number): void {
    while (n >= 0x80) {
      this.buf[this.pos++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    this.buf[this.pos++] = n;
  }

  /** A tag and a length: the head of a length-delimited field. */
  head(tag: number, length: number): void {
    this.buf[this.pos++] = tag;
    this.varint(length);
  }

  bytes(tag: number, b: Buffer): void {
    this.head(tag, b.length);
    this.pos += b.copy(this.buf, this.pos);
  }
}

/**
 * TxnRequest{compare: [key absent, for each of `absent`], success: [put, for each of `puts`], failure: []}.
 * `leases[i]`: the id (decimal, as etcd3 gives it) of the lease puts[i] is written under, when it has one. No
 * compare: the puts are applied unconditionally.
 */
export function encodeTxn(absent: readonly Buffer[], puts: readonly TxnPut[], leases?: ReadonlyArray<string | undefined>): Buffer {
  const leaseBytes = leases?.map((id) => (id === undefined ? undefined : int64Varint(id)));
  const putSizes = puts.map((p, i) => putSize(p, leaseBytes?.[i]));
  let total = 0;
  for (const key of absent) total += bytesField(compareSize(key));
  for (const size of putSizes) total += bytesField(bytesField(size));
  const w = new Writer(Buffer.allocUnsafe(total));
  for (const key of absent) {
    w.head(TXN_COMPARE, compareSize(key));
    w.buf[w.pos++] = CMP_RESULT;
    w.buf[w.pos++] = 0;
    w.buf[w.pos++] = CMP_TARGET;
    w.buf[w.pos++] = 0;
    w.bytes(CMP_KEY, key);
    w.buf[w.pos++] = CMP_VERSION;
    w.buf[w.pos++] = 0;
  }
  puts.forEach((p, i) => {
    const size = putSizes[i]!;
    w.head(TXN_SUCCESS, bytesField(size));
    w.head(OP_REQUEST_PUT, size);
    w.bytes(PUT_KEY, p.key);
    w.bytes(PUT_VALUE, p.value);
    const lease = leaseBytes?.[i];
    if (lease !== undefined) {
      w.buf[w.pos++] = PUT_LEASE;
      w.pos += lease.copy(w.buf, w.pos);
    }
  });
  if (w.pos !== total) throw new Error(`encoded a transaction of ${w.pos} bytes, ${total} expected (a bug)`);
  return w.buf;
}

/** Reads a varint at `pos`: its value (exact below 2^53) and where the next field starts. */
function readVarint(buf: Buffer, pos: number): { value: number; next: number } {
  let value = 0;
  for (let shift = 1; pos < buf.length; shift *= 128) {
    const b = buf[pos++]!;
    value += (b & 0x7f) * shift;
    if (b < 0x80) return { value, next: pos };
  }
  throw new Error('a varint runs past the end of the message');
}

/** Where the field after the one at `pos` (whose tag is `tag`, read up to `pos`) starts. */
function skipField(buf: Buffer, tag: number, pos: number): number {
  switch (tag & 7) {
    case 0:
      return readVarint(buf, pos).next;
    case 1:
      return pos + 8;
    case 2: {
      const { value, next } = readVarint(buf, pos);
      return next + value;
    }
    case 5:
      return pos + 4;
    default:
      throw new Error(`unexpected wire type ${tag & 7}`);
  }
}

/**
 * TxnResponse.succeeded: whether the compares held (a transaction without any always succeeds). Reads the reply's
 * fields without decoding them: the header and the responses (one per put, each with a header of its own) are skipped.
 */
export function txnSucceeded(reply: Buffer): boolean {
  let succeeded = false;
  let pos = 0;
  while (pos < reply.length) {
    const tag = readVarint(reply, pos);
    if (tag.value === RESP_SUCCEEDED) {
      const v = readVarint(reply, tag.next);
      succeeded = v.value !== 0;
      pos = v.next;
    } else {
      pos = skipField(reply, tag.value, tag.next);
    }
  }
  if (pos !== reply.length) throw new Error('a transaction reply ends inside a field');
  return succeeded;
}
