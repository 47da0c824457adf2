import { crc32c } from '@node-rs/crc32';
import { describe, expect, it } from 'vitest';
import { crc32cCombine, crc32cShift } from '../../../src/snapshot/crc32c-shift.js';
import { SnapshotFormatError } from '../../../src/snapshot/errors.js';
import { decodeKeyValue, decodeUserKey } from '../../../src/snapshot/key-value.js';
import { parseMeta } from '../../../src/snapshot/meta.js';
import { parseRevisionKey } from '../../../src/snapshot/revision.js';
import { writeMeta } from './bolt-writer.js';
import { encodeKeyValue, revisionKey } from './etcd-records.js';

describe('CRC-32C combination', () => {
  it('combines CRCs of parts into the CRC of the whole', () => {
    const whole = Buffer.from('The quick brown fox jumps over the lazy dog, twice over and then some more.');
    for (const cut of [0, 1, 7, 40, whole.length]) {
      const [a, b] = [whole.subarray(0, cut), whole.subarray(cut)];
      expect(crc32cCombine(crc32c(a), crc32c(b), b.length)).toBe(crc32c(whole));
    }
  });

  it('shifts a difference through more data (the CRC is affine in its start value)', () => {
    const data = Buffer.alloc(10_000, 7);
    const x = 0x1234_5678;
    const d = 0x0bad_f00d;
    expect((crc32c(data, (x ^ d) >>> 0) ^ crc32c(data, x)) >>> 0).toBe(crc32cShift(d, data.length));
  });
});

describe('etcd records', () => {
  it('decodes revision keys and tombstones, and rejects other keys', () => {
    expect(parseRevisionKey(revisionKey(1234567890123, 5), 'k')).toEqual({ main: 1234567890123, sub: 5, tombstone: false });
    expect(parseRevisionKey(revisionKey(9, 0, true), 'k')).toEqual({ main: 9, sub: 0, tombstone: true });
    expect(() => parseRevisionKey(Buffer.from('compact_rev_key'), 'bucket "key"')).toThrow(/"compact_rev_key" is not an etcd revision/);
  });

  it('decodes mvccpb.KeyValue, including a 64-bit lease id', () => {
    const lease = 7587862523424213000n;
    const kv = decodeKeyValue(encodeKeyValue({ key: '/a', createRevision: 3, modRevision: 9, version: 4, value: 'v', lease }), 'x');
    expect(kv).toEqual({ key: Buffer.from('/a'), createRevision: 3, modRevision: 9, version: 4, value: Buffer.from('v'), lease });
    expect(decodeUserKey(encodeKeyValue({ key: '/only' }), 'x')).toEqual(Buffer.from('/only'));
  });

  it('rejects truncated and oversized protobuf fields with a SnapshotFormatError', () => {
    const good = encodeKeyValue({ key: '/a', value: 'value', modRevision: 2 });
    for (const bad of [good.subarray(0, good.length - 2), Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f]), Buffer.alloc(11, 0x80), Buffer.from([0x0b])]) {
      expect(() => decodeKeyValue(bad, 'page 7 element 3')).toThrow(SnapshotFormatError);
    }
    expect(() => decodeKeyValue(Buffer.from([0x0a, 0x09, 0x41]), 'page 7 element 3')).toThrow(/page 7 element 3: bad protobuf/);
  });
});

describe('meta pages', () => {
  it('validates magic, version and checksum, naming what is wrong', () => {
    const page = Buffer.alloc(4096);
    writeMeta(page, 0, { pageSize: 4096, root: 3, pgid: 10, txid: 5, freelist: 0xffffffffffffffffn });
    expect(parseMeta(page, 0, 0).meta).toEqual({ index: 0, pageSize: 4096, flags: 0, root: 3, freelist: undefined, pgid: 10, txid: 5 });
    const flipped = Buffer.from(page);
    flipped[60] ^= 1;
    expect(parseMeta(flipped, 0, 0).problem).toMatch(/meta page 0 at offset 0: checksum mismatch/);
    const magic = Buffer.from(page);
    magic[16] = 0;
    expect(parseMeta(magic, 0, 0).problem).toMatch(/bad magic/);
    const odd = Buffer.alloc(4096);
    writeMeta(odd, 0, { pageSize: 3000, root: 3, pgid: 10, txid: 5, freelist: 2n });
    expect(parseMeta(odd, 0, 0).problem).toMatch(/page size 3000 is not a power of two/);
  });
});
