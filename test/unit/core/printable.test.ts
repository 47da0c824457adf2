import { describe, expect, it } from 'vitest';
import { keyFields, parsePrinted, printable, printableBytes, printedKey } from '../../../src/core/printable.js';

/** A small seeded generator: the same byte sequences on every run. */
function xorshift(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

const roundTrips = (bytes: Buffer) => expect(parsePrinted(printableBytes(bytes)).toString('hex'), printableBytes(bytes)).toBe(bytes.toString('hex'));

describe('printable', () => {
  it('escapes what would fake lines and columns or drive a terminal, and nothing else', () => {
    // U+009B (C1 CSI) is the bytes c2 9b: both are escaped, so the printed form reads back to the same key.
    expect(printable('/registry/configmaps/prod/evil\nFAKE\tLINE\u001b[31mRED\u009b')).toBe('/registry/configmaps/prod/evil\\x0aFAKE\\x09LINE\\x1b[31mRED\\xc2\\x9b');
    expect(printable('/registry/pods/ns/wéb-ünïcode-名前')).toBe('/registry/pods/ns/wéb-ünïcode-名前');
  });

  it('prints printable UTF-8 exactly as it is, a lone backslash included', () => {
    for (const text of ['/registry/pods/default/web-0', '/registry/configmaps/default/back\\slash', 'C:\\Program Files\\', 'ünïcødé 名前 🙂', '"quoted" \'k\'', '\\', 'a\\b\\c']) {
      expect(printableBytes(Buffer.from(text))).toBe(text);
      expect(parsePrinted(text).toString('utf8')).toBe(text);
    }
  });

  it('escapes bytes that are not UTF-8 and control characters as \\xNN, so different keys print differently', () => {
    expect(printableBytes(Buffer.from([0x2f, 0x72, 0xff, 0x0a]))).toBe('/r\\xff\\x0a');
    expect(printableBytes(Buffer.from([0x2f, 0x72, 0xfe, 0x0a]))).toBe('/r\\xfe\\x0a');
    // Not U+FFFD for both: the replacement character itself is printable text, and stays apart from a bad byte.
    expect(printableBytes(Buffer.from('/r\ufffd'))).toBe('/r\ufffd');
    // A truncated sequence, an overlong one, a surrogate: each byte escaped.
    expect(printableBytes(Buffer.from([0xe2, 0x82, 0x61]))).toBe('\\xe2\\x82a');
    expect(printableBytes(Buffer.from([0xc0, 0xaf]))).toBe('\\xc0\\xaf');
    expect(printableBytes(Buffer.from([0xed, 0xa0, 0x80]))).toBe('\\xed\\xa0\\x80');
    // Bidi override and line separator: format and separator characters are escaped as their UTF-8 bytes.
    expect(printable('a\u202eb\u2028c\u007f')).toBe('a\\xe2\\x80\\xaeb\\xe2\\x80\\xa8c\\x7f');
  });

  it('doubles a backslash only where it could start an escape', () => {
    expect(printableBytes(Buffer.from('a\\xff'))).toBe('a\\\\xff');
    expect(printableBytes(Buffer.from('a\\\\b'))).toBe('a\\\\\\b');
    expect(printableBytes(Buffer.from([0x5c, 0xff]))).toBe('\\\\\\xff');
    expect(printableBytes(Buffer.from('a\\\n'))).toBe('a\\\\\\x0a');
    // The literal key `\xff` and the byte 0xff print differently.
    expect(printableBytes(Buffer.from('\\xff'))).not.toBe(printableBytes(Buffer.from([0xff])));
  });

  it('reads any printed form back to the exact bytes: every byte, every pair, random sequences', () => {
    for (let a = 0; a < 256; a++) {
      roundTrips(Buffer.from([a]));
      for (const b of [0x00, 0x0a, 0x5c, 0x78, 0x41, 0x80, 0xbf, 0xc3, 0xe2, 0xff]) roundTrips(Buffer.from([a, b]));
    }
    const next = xorshift(20261206);
    // Bytes drawn mostly from the troublesome ones: backslash, x, hex digits, controls, UTF-8 leads and continuations.
    const alphabet = [0x5c, 0x78, 0x30, 0x66, 0x46, 0x0a, 0x00, 0x7f, 0xc2, 0x9b, 0xe2, 0x80, 0xae, 0xf0, 0x9f, 0x99, 0x82, 0xff, 0x2f, 0x61];
    for (let t = 0; t < 5000; t++) {
      const len = next() % 24;
      const bytes = Buffer.alloc(len);
      for (let i = 0; i < len; i++) bytes[i] = next() % 3 === 0 ? next() % 256 : alphabet[next() % alphabet.length]!;
      roundTrips(bytes);
      // A printed form holds no control character: it cannot break a line or a column.
      expect(printableBytes(bytes)).not.toMatch(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u);
    }
  });

  it('reads a backslash that starts no escape as itself, and escapes in either case', () => {
    expect(parsePrinted('a\\b').toString()).toBe('a\\b');
    expect(parsePrinted('a\\x4').toString()).toBe('a\\x4');
    expect(parsePrinted('a\\xg1').toString()).toBe('a\\xg1');
    expect(parsePrinted('\\xFF\\xff')).toEqual(Buffer.from([0xff, 0xff]));
  });

  it('JSON fields: text when the key is UTF-8, else the printed form and the exact bytes', () => {
    expect(keyFields(Buffer.from('/registry/pods/a/b\n'))).toEqual({ key: '/registry/pods/a/b\n' });
    const bad = Buffer.from([0x2f, 0x72, 0xff, 0x0a]);
    expect(keyFields(bad)).toEqual({ key: '/r\\xff\\x0a', keyBase64: bad.toString('base64') });
    expect(printedKey(keyFields(bad))).toBe('/r\\xff\\x0a');
    // Listings written before carried the lossy text beside the bytes: the bytes are what is printed.
    expect(printedKey({ key: '/r\ufffd\n', keyBase64: bad.toString('base64') })).toBe('/r\\xff\\x0a');
    expect(printedKey({ key: 'a\tb' })).toBe('a\\x09b');
  });
});
