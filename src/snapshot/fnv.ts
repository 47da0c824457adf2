const OFFSET_BASIS = 0xcbf29ce484222325n;
const PRIME = 0x100000001b3n;
const MASK = 0xffffffffffffffffn;

/** FNV-1a 64 of `bytes` (bbolt's meta page checksum). BigInt is fine: it runs over 56 bytes twice per file. */
export function fnv1a64(bytes: Uint8Array): bigint {
  let h = OFFSET_BASIS;
  for (const b of bytes) h = ((h ^ BigInt(b)) * PRIME) & MASK;
  return h;
}
