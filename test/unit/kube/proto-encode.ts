import { bytes, concat } from './fixtures.js';

// A tiny protobuf writer for building test messages, including malformed ones the reader must reject.

/** Encodes an unsigned varint (BigInt for values past 2^53, including two's-complement negatives). */
export function varint(value: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  do {
    const low = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v === 0n ? low : low | 0x80);
  } while (v !== 0n);
  return out;
}

/** A tag for `field` with `wireType`. */
export function tag(field: number, wireType: number): number[] {
  return varint(field * 8 + wireType);
}

/** A length-delimited field holding a string, bytes or an already encoded message. */
export function ld(field: number, payload: string | Uint8Array): Uint8Array {
  const data = typeof payload === 'string' ? bytes(payload) : payload;
  return concat(tag(field, 2), varint(data.length), data);
}

/** A varint field. */
export function vf(field: number, value: number | bigint): Uint8Array {
  return concat(tag(field, 0), varint(value));
}

/** A message made of fields. */
export function msg(...fields: Uint8Array[]): Uint8Array {
  return concat(...fields);
}

/** A stored object: `k8s\0` + runtime.Unknown{typeMeta, raw{metadata = 1, ...rest}, contentEncoding, contentType}. */
export function storedObject(apiVersion: string, kind: string, metadata: Uint8Array, ...rest: Uint8Array[]): Uint8Array {
  return concat(
    [0x6b, 0x38, 0x73, 0x00],
    ld(1, msg(ld(1, apiVersion), ld(2, kind))),
    ld(2, msg(ld(1, metadata), ...rest)),
    ld(3, ''),
    ld(4, ''),
  );
}
