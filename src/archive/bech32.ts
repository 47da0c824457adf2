/**
 * Bech32 (BIP 173) decoding, only as far as validating age keys needs: the checksum and the 8-bit payload. Kept
 * here so checking a key in the configuration does not load the age library (a tenth of a second at every start).
 */
const CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
const GENERATORS = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];

function polymod(values: number[]): number {
  let chk = 1;
  for (const v of values) {
    const top = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) chk ^= GENERATORS[i]!;
  }
  return chk >>> 0;
}

/** The prefix and bytes of a bech32 string (one case throughout, valid checksum, zero padding), or undefined. */
export function decodeBech32(s: string): { prefix: string; bytes: Uint8Array } | undefined {
  if (s.length < 8 || s.length > 90) return undefined;
  const lower = s.toLowerCase();
  if (s !== lower && s !== s.toUpperCase()) return undefined;
  const sep = lower.lastIndexOf('1');
  if (sep < 1 || lower.length - sep - 1 < 6) return undefined;
  const prefix = lower.slice(0, sep);
  const words: number[] = [];
  for (const c of lower.slice(sep + 1)) {
    const w = CHARSET.indexOf(c);
    if (w < 0) return undefined;
    words.push(w);
  }
  const expanded: number[] = [];
  for (let i = 0; i < prefix.length; i++) {
    const c = prefix.charCodeAt(i);
    if (c < 33 || c > 126) return undefined;
    expanded.push(c >>> 5);
  }
  expanded.push(0);
  for (let i = 0; i < prefix.length; i++) expanded.push(prefix.charCodeAt(i) & 31);
  if (polymod([...expanded, ...words]) !== 1) return undefined;
  // 5-bit words to bytes; what is left over must be fewer than 5 bits, all zero (the canonical form).
  const bytes: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const w of words.slice(0, -6)) {
    acc = ((acc << 5) | w) & 0xfff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      bytes.push((acc >>> bits) & 0xff);
    }
  }
  if (bits >= 5 || (acc & ((1 << bits) - 1)) !== 0) return undefined;
  return { prefix, bytes: Uint8Array.from(bytes) };
}
