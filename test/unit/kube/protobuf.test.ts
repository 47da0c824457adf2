import { describe, it, expect } from 'vitest';
import { ProtoReader, WireType } from '../../../src/kube/index.js';
import { concat } from './fixtures.js';
import { ld, tag, varint, vf } from './proto-encode.js';

const reader = (...parts: (Uint8Array | number[])[]) => new ProtoReader(concat(...parts));

// Walks every field of a message, skipping values: how a caller meets hostile bytes it does not care about.
function skipAll(r: ProtoReader): void {
  while (r.next()) r.skip();
}

describe('ProtoReader varints', () => {
  it('reads small, 32-bit and 53-bit values', () => {
    for (const value of [0, 1, 127, 128, 300, 2 ** 31 - 1, 2 ** 32, 2 ** 35 + 7, Number.MAX_SAFE_INTEGER]) {
      expect(reader(varint(value)).readVarint()).toBe(value);
    }
  });

  it('refuses a varint past 2^53 as a number but reads it exactly as a BigInt', () => {
    expect(() => reader(varint(2n ** 60n)).readVarint()).toThrow('protobuf: varint at offset 0 exceeds 2^53');
    expect(reader(varint(2n ** 64n - 1n)).readVarintBig()).toBe(2n ** 64n - 1n);
  });

  it('reads int64 two-complement negatives', () => {
    expect(reader(varint(-1)).readInt64()).toBe(-1);
    expect(reader(varint(-123456789)).readInt64()).toBe(-123456789);
  });

  it('rejects truncated and overlong varints', () => {
    expect(() => reader([0x80, 0x80]).readVarint()).toThrow('protobuf: truncated varint at offset 0');
    expect(() => reader(new Array(11).fill(0x80)).readVarintBig()).toThrow('longer than 10 bytes');
    expect(() => reader(new Array(11).fill(0xff)).readVarint()).toThrow('longer than 10 bytes');
  });

  it('reads bools as any non-zero varint', () => {
    expect(reader([0x00]).readBool()).toBe(false);
    expect(reader([0x01]).readBool()).toBe(true);
    expect(reader([0x80, 0x01]).readBool()).toBe(true);
  });
});

describe('ProtoReader fields', () => {
  it('reads tags, strings and sub-messages without copying', () => {
    const buf = concat(ld(1, 'héllo'), ld(2, concat(vf(1, 5))));
    const r = new ProtoReader(buf);
    expect(r.next()).toBe(true);
    expect([r.field, r.wireType]).toEqual([1, WireType.LengthDelimited]);
    expect(r.readString()).toBe('héllo');
    expect(r.next()).toBe(true);
    const bytesView = new ProtoReader(buf, r.pos).readBytes();
    expect(bytesView.buffer).toBe(buf.buffer);
    const sub = r.readMessage();
    expect(sub.next()).toBe(true);
    expect(sub.readVarint()).toBe(5);
    expect(sub.next()).toBe(false);
    expect(r.next()).toBe(false);
  });

  it('checks every length against what remains', () => {
    expect(() => skipAll(reader(tag(1, 2), varint(10), [1, 2, 3]))).toThrow(
      'protobuf: length 10 at offset 1 exceeds the 3 bytes that remain',
    );
    // A length that only fits the outer buffer must not escape its sub-message.
    const outer = reader(ld(1, concat(tag(1, 2), varint(4))), [1, 2, 3, 4]);
    outer.next();
    const inner = outer.readMessage();
    inner.next();
    expect(() => inner.readBytes()).toThrow('exceeds the 0 bytes that remain');
  });

  it('skips fixed32, fixed64 and nested groups, and checks their sizes', () => {
    const r = reader(tag(1, 5), [1, 2, 3, 4], tag(2, 1), [1, 2, 3, 4, 5, 6, 7, 8], tag(3, 3), tag(4, 3), vf(1, 1), tag(4, 4), tag(3, 4), vf(9, 9));
    const seen: number[] = [];
    while (r.next()) {
      seen.push(r.field);
      if (r.field === 9) expect(r.readVarint()).toBe(9);
      else r.skip();
    }
    expect(seen).toEqual([1, 2, 3, 9]);
    expect(() => skipAll(reader(tag(1, 5), [1, 2]))).toThrow('protobuf: field 1 needs 4 bytes at offset 1, 2 remain');
    expect(() => skipAll(reader(tag(1, 1), [1]))).toThrow('needs 8 bytes');
  });

  it('rejects unclosed, mismatched and stray groups', () => {
    expect(() => skipAll(reader(tag(3, 3), vf(1, 1)))).toThrow('protobuf: group 3 starting at offset 1 is never closed');
    expect(() => skipAll(reader(tag(3, 3), tag(4, 4)))).toThrow('group 3 closed by end-group 4');
    expect(() => skipAll(reader(tag(3, 4)))).toThrow('unexpected end-group for field 3');
  });

  it('stops at a group nesting depth instead of overflowing the stack', () => {
    const open = new Array(100_000).fill(tag(1, 3)).flat();
    expect(() => skipAll(reader(open))).toThrow('groups nested deeper than 64');
  });

  it('rejects field 0 and the unused wire types 6 and 7', () => {
    expect(() => reader([0x02, 0x00]).next()).toThrow('protobuf: field number 0 at offset 0');
    expect(() => reader([0x0e]).next()).toThrow('protobuf: invalid wire type 6 at offset 0');
    expect(() => reader([0x0f]).next()).toThrow('invalid wire type 7');
  });

  it('rejects a range outside its buffer', () => {
    expect(() => new ProtoReader(new Uint8Array(4), 2, 8)).toThrow('protobuf: range [2, 8) is outside a buffer of 4 bytes');
  });
});
