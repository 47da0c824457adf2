const TWO_32 = 0x1_0000_0000;

/**
 * Reads a little-endian u64 as a number. Values past 2^53 come back inexact, but still larger than any page id or
 * size a real file can have, so every bounds check that follows still rejects them.
 */
export function readU64LE(buf: Buffer, at: number): number {
  return buf.readUInt32LE(at + 4) * TWO_32 + buf.readUInt32LE(at);
}

/**
 * The u32 (little-endian) at `at`, from plain byte reads, for the loops over every page and element of a file: fast
 * also before the JIT has compiled them. Unchecked: the caller knows `at + 4` is inside `buf`.
 */
export function u32At(buf: Buffer, at: number): number {
  return (buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16)) + buf[at + 3]! * 0x1000000;
}

/** The u64 (little-endian) at `at` as a number, like u32At (page ids and counts stay far below 2^53). */
export function u64At(buf: Buffer, at: number): number {
  return u32At(buf, at + 4) * TWO_32 + u32At(buf, at);
}

/** The u16 (little-endian) at `at`, like u32At. */
export function u16At(buf: Buffer, at: number): number {
  return buf[at]! | (buf[at + 1]! << 8);
}

/** True when the u64 at `at` is all ones (bbolt's "no page" marker). */
export function isAllOnesU64(buf: Buffer, at: number): boolean {
  return buf.readUInt32LE(at) === 0xffffffff && buf.readUInt32LE(at + 4) === 0xffffffff;
}

/** Reads a big-endian signed i64 as a number (etcd revisions); inexact past 2^53, which no real revision reaches. */
export function readI64BE(buf: Buffer, at: number): number {
  return buf.readInt32BE(at) * TWO_32 + buf.readUInt32BE(at + 4);
}

/** True when `buf` starts with `prefix`. */
export function hasPrefix(buf: Buffer, prefix: Buffer): boolean {
  return buf.length >= prefix.length && buf.compare(prefix, 0, prefix.length, 0, prefix.length) === 0;
}

/** A short printable form of a key for error messages: quoted text when printable, hex otherwise. */
export function describeKey(key: Buffer): string {
  const shown = key.subarray(0, 64);
  const more = key.length > shown.length ? '...' : '';
  const printable = shown.every((b) => b >= 0x20 && b < 0x7f);
  return printable ? JSON.stringify(shown.toString('latin1') + more) : `0x${shown.toString('hex')}${more}`;
}
