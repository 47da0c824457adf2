import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { IntegrityError } from '../../../src/core/errors.js';
import { BLOCK, TarParser, tarEnd, tarEntry, tarHeader, type TarEntry } from '../../../src/archive/tar.js';

function parseAll(bytes: Buffer, chunk = bytes.length, maxSize = 1 << 20): TarEntry[] {
  const out: TarEntry[] = [];
  const p = new TarParser((e) => out.push(e), () => maxSize);
  for (let i = 0; i < bytes.length; i += chunk) p.write(bytes.subarray(i, i + chunk));
  p.end();
  return out;
}

const archive = (...entries: Array<[string, Buffer]>) =>
  Buffer.concat([...entries.flatMap(([n, d]) => tarEntry(n, d, 1_700_000_000)), tarEnd()]);

describe('tar writer', () => {
  it('writes headers GNU tar accepts, with data and mode intact', () => {
    const bytes = archive(['a/one.txt', Buffer.from('hello\n')], ['a/empty', Buffer.alloc(0)], ['b', Buffer.alloc(513, 7)]);
    expect(bytes.length % BLOCK).toBe(0);
    const listing = execFileSync('tar', ['-tvf', '-'], { input: bytes }).toString();
    expect(listing).toMatch(/-rw------- .* 6 .* a\/one\.txt/);
    expect(listing).toContain('a/empty');
    expect(execFileSync('tar', ['-xOf', '-', 'b'], { input: bytes }).equals(Buffer.alloc(513, 7))).toBe(true);
  });

  it('refuses names that are paths out of the archive or too long', () => {
    for (const bad of ['../x', '/abs', 'a//b', 'a/./b', 'x'.repeat(101), 'sp ace', '']) {
      expect(() => tarHeader(bad, 1, 0), bad).toThrow(RangeError);
    }
  });
});

describe('tar parser', () => {
  const good = archive(['one', Buffer.from('first')], ['two', Buffer.alloc(1500, 0x41)], ['three', Buffer.alloc(0)]);

  it('reads back every entry whatever the chunking', () => {
    for (const chunk of [1, 7, 511, 512, 513, 4096, good.length]) {
      const entries = parseAll(good, chunk);
      expect(entries.map((e) => [e.name, e.data.length])).toEqual([['one', 5], ['two', 1500], ['three', 0]]);
      expect(entries[1]!.data.equals(Buffer.alloc(1500, 0x41))).toBe(true);
      expect(entries[0]!.mtime).toBe(1_700_000_000);
    }
  });

  it('reads an archive written by GNU tar in ustar format', () => {
    const bytes = execFileSync('bash', ['-c', 'd=$(mktemp -d); cd $d; printf abc > f; tar --format=ustar -cf - f; rm -rf $d']);
    const entries = parseAll(bytes);
    expect(entries.map((e) => [e.name, e.data.toString()])).toEqual([['f', 'abc']]);
  });

  it('fails on an archive cut short anywhere', () => {
    for (const cut of [1, 100, 512, 600, 1024, good.length - 1024, good.length - 1]) {
      expect(() => parseAll(good.subarray(0, cut)), `cut at ${cut}`).toThrow(/cut short/);
    }
  });

  it('fails on a flipped header byte (checksum)', () => {
    const bad = Buffer.from(good);
    bad[3] = bad[3]! ^ 0x20;
    expect(() => parseAll(bad)).toThrow(/checksum mismatch/);
  });

  it('fails on entries that are not regular files, and on non-zero padding or trailing data', () => {
    const link = Buffer.from(tarHeader('one', 0, 0));
    link[156] = 0x32; // symlink
    let sum = 0;
    link.fill(0x20, 148, 156);
    for (const b of link) sum += b;
    link.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
    expect(() => parseAll(Buffer.concat([link, tarEnd()]))).toThrow(/not a regular file/);

    const padded = Buffer.from(good);
    padded[512 + 5] = 1; // inside the padding of "one"
    expect(() => parseAll(padded)).toThrow(/padding/);

    expect(() => parseAll(Buffer.concat([good, Buffer.from('junk')]))).toThrow(/after the end-of-archive/);
    expect(parseAll(Buffer.concat([good, Buffer.alloc(4096)]))).toHaveLength(3);
  });

  it('refuses a size beyond the limit before reading the data, and throws IntegrityErrors', () => {
    const big = Buffer.concat([tarHeader('huge', 10 ** 9, 0), Buffer.alloc(512)]);
    let err: unknown;
    try {
      parseAll(big, big.length, 1 << 20);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(IntegrityError);
    expect((err as Error).message).toMatch(/claims 1000000000 bytes/);
  });

  it('refuses garbage that is not tar', () => {
    expect(() => parseAll(Buffer.alloc(2048, 0x61))).toThrow(IntegrityError);
  });
});
