/** The protobuf varint of an unsigned 64-bit value: 7 bits a byte, low first, the high bit set on all but the last. */
export function varintBytes(value: bigint): Buffer {
  let v = value;
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return Buffer.from(out);
}
