import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isKeyEntryName, keyEntryNames } from '../../../src/archive/key-dump-format.js';
import { BLOCK, headerSum, tarHeader } from '../../../src/archive/tar.js';

/** The ustar checksum as the standard defines it: every byte, the checksum field counted as eight spaces. */
function plainSum(h: Uint8Array, base: number): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[base + i]!;
  return sum;
}

describe('headerSum', () => {
  it('equals the plain byte sum on random blocks, at any offset', () => {
    for (let round = 0; round < 500; round++) {
      const base = round % 13;
      const buf = randomBytes(BLOCK + base + 3);
      expect(headerSum(buf, base)).toBe(plainSum(buf, base));
    }
  });

  it('equals the plain byte sum on edge cases: all 0xff, one byte set, bytes only in the checksum field', () => {
    expect(headerSum(Buffer.alloc(BLOCK, 0xff), 0)).toBe(plainSum(Buffer.alloc(BLOCK, 0xff), 0));
    for (const at of [0, 147, 148, 155, 156, 511]) {
      const b = Buffer.alloc(BLOCK);
      b[at] = 0xff;
      expect(headerSum(b, 0)).toBe(plainSum(b, 0));
    }
    const onlyChecksum = Buffer.alloc(BLOCK);
    onlyChecksum.fill(0x37, 148, 156);
    expect(headerSum(onlyChecksum, 0)).toBe(8 * 0x20);
  });

  it('is -1 for a zero block only', () => {
    expect(headerSum(Buffer.alloc(BLOCK + 7), 7)).toBe(-1);
    expect(headerSum(Buffer.concat([Buffer.alloc(BLOCK), Buffer.from([1])]), 0)).toBe(-1);
  });

  it("agrees with the writer's checksum field", () => {
    const h = tarHeader('keys/000000001.value', 916, 1_700_000_000);
    expect(headerSum(h, 0)).toBe(parseInt(h.toString('latin1', 148, 154), 8));
  });
});

describe('isKeyEntryName', () => {
  const ns = [1, 9, 10, 99, 100, 123456, 999_999_999, 1_000_000_000, 1_234_567_890, 98_765_432_101];

  it('accepts exactly the names keyEntryNames builds', () => {
    for (const n of ns) {
      const names = keyEntryNames(n);
      expect(isKeyEntryName(names.meta, n, '.json')).toBe(true);
      expect(isKeyEntryName(names.value, n, '.value')).toBe(true);
      expect(isKeyEntryName(names.meta, n, '.value')).toBe(false);
      expect(isKeyEntryName(names.value, n, '.json')).toBe(false);
      for (const other of [n - 1, n + 1, n * 10]) if (other > 0) expect(isKeyEntryName(names.meta, other, '.json')).toBe(other === n);
    }
  });

  it('refuses near misses', () => {
    for (const name of ['keys/00000001.json', 'keys/0000000001.json', 'key/000000001.json', 'keys/000000001.jsonx', 'keys/00000000a.json', 'xeys/000000001.json', 'keys/000000001json', '']) {
      expect(isKeyEntryName(name, 1, '.json')).toBe(false);
    }
  });
});
