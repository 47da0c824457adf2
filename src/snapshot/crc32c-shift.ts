/**
 * CRC-32C arithmetic for combining CRCs computed out of order (zlib's crc32_combine, for the Castagnoli
 * polynomial): crc(A || B) = shift(crc(A), |B|) ^ crc(B) where crc(B) starts from 0.
 */
const POLY = 0x82f63b78;

/** a(x) * b(x) modulo the polynomial, both in reflected bit order. */
function multModP(a: number, b: number): number {
  let m = 0x80000000;
  let p = 0;
  for (;;) {
    if ((a & m) !== 0) {
      p ^= b;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    b = b & 1 ? (b >>> 1) ^ POLY : b >>> 1;
  }
  return p >>> 0;
}

/** X2N[k] = x^(2^k) mod P. */
const X2N = new Uint32Array(32);
X2N[0] = 0x40000000;
for (let k = 1; k < 32; k++) X2N[k] = multModP(X2N[k - 1]!, X2N[k - 1]!);

/** x^(n * 2^k) mod P. */
function x2nModP(n: number, k: number): number {
  let p = 0x80000000;
  while (n > 0) {
    if (n % 2 === 1) p = multModP(X2N[k % 32]!, p);
    n = Math.floor(n / 2);
    k++;
  }
  return p;
}

/** The CRC register `crc` advanced over `bytes` zero bytes, without the zeros: the shift of the combine rule. */
export function crc32cShift(crc: number, bytes: number): number {
  if (crc === 0 || bytes === 0) return crc >>> 0;
  return multModP(x2nModP(bytes, 3), crc);
}

/** crc32c(A || B) from crc32c(A), crc32c(B) and the length of B. */
export function crc32cCombine(crcA: number, crcB: number, lengthB: number): number {
  return (crc32cShift(crcA, lengthB) ^ crcB) >>> 0;
}
