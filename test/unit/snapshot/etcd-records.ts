/** An etcd key-bucket key: main and sub revision big-endian around '_' (plus 't' for a tombstone). */
export function revisionKey(main: number, sub = 0, tombstone = false): Buffer {
  const k = Buffer.alloc(tombstone ? 18 : 17);
  k.writeBigInt64BE(BigInt(main), 0);
  k[8] = 0x5f;
  k.writeBigInt64BE(BigInt(sub), 9);
  if (tombstone) k[17] = 0x74;
  return k;
}

function varint(n: bigint): Buffer {
  const out: number[] = [];
  let v = BigInt.asUintN(64, n);
  do {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v > 0n ? b | 0x80 : b);
  } while (v > 0n);
  return Buffer.from(out);
}

function field(num: number, wire: number): Buffer {
  return varint(BigInt((num << 3) | wire));
}

/** mvccpb.KeyValue, encoded as etcd does (proto3: zero fields left out). */
export function encodeKeyValue(kv: {
  key: Buffer | string;
  createRevision?: number;
  modRevision?: number;
  version?: number;
  value?: Buffer | string;
  lease?: bigint;
}): Buffer {
  const parts: Buffer[] = [];
  const bytesField = (num: number, b: Buffer | string | undefined): void => {
    const v = typeof b === 'string' ? Buffer.from(b) : b;
    if (v !== undefined && v.length > 0) parts.push(field(num, 2), varint(BigInt(v.length)), v);
  };
  const intField = (num: number, n: bigint | number | undefined): void => {
    if (n !== undefined && BigInt(n) !== 0n) parts.push(field(num, 0), varint(BigInt(n)));
  };
  bytesField(1, kv.key);
  intField(2, kv.createRevision);
  intField(3, kv.modRevision);
  intField(4, kv.version);
  bytesField(5, kv.value);
  intField(6, kv.lease);
  return Buffer.concat(parts);
}

/** leasepb.Lease. */
export function encodeLease(id: bigint, ttl: number, remainingTTL = 0): Buffer {
  const parts = [field(1, 0), varint(id), field(2, 0), varint(BigInt(ttl))];
  if (remainingTTL !== 0) parts.push(field(3, 0), varint(BigInt(remainingTTL)));
  return Buffer.concat(parts);
}

/** A lease id as etcd's lease bucket key: u64 big-endian. */
export function leaseKey(id: bigint): Buffer {
  const k = Buffer.alloc(8);
  k.writeBigUInt64BE(id);
  return k;
}
