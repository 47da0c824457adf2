import { utf8 } from './text.js';

/** Protobuf wire types (https://protobuf.dev/programming-guides/encoding/#structure). */
export const WireType = {
  Varint: 0,
  Fixed64: 1,
  LengthDelimited: 2,
  StartGroup: 3,
  EndGroup: 4,
  Fixed32: 5,
} as const;

// Real messages nest groups a level or two deep at most; the cap only exists so hostile input cannot exhaust the stack.
const MAX_GROUP_DEPTH = 64;
const MAX_VARINT_BYTES = 10;

/**
 * A minimal reader of the protobuf wire format over `buf[start, end)`, written for untrusted bytes: every length is
 * checked against the bytes that remain, every read advances or throws, and errors name the offset and the problem.
 * Nothing is copied: strings are decoded in place and sub-messages are readers over the same buffer.
 */
export class ProtoReader {
  pos: number;
  /** Field number of the tag read by the last successful `next()`. */
  field = 0;
  /** Wire type of the tag read by the last successful `next()`. */
  wireType = 0;

  constructor(
    readonly buf: Uint8Array,
    start = 0,
    readonly end = buf.length,
  ) {
    if (start < 0 || end > buf.length || start > end) {
      throw new Error(`protobuf: range [${start}, ${end}) is outside a buffer of ${buf.length} bytes`);
    }
    this.pos = start;
  }

  /** Reads the next tag into `field` and `wireType`; returns false at the end of the message. */
  next(): boolean {
    if (this.pos >= this.end) return false;
    const at = this.pos;
    const tag = this.readVarint();
    const field = Math.floor(tag / 8);
    const wireType = tag % 8;
    if (field === 0) throw new Error(`protobuf: field number 0 at offset ${at}`);
    if (wireType > WireType.Fixed32) throw new Error(`protobuf: invalid wire type ${wireType} at offset ${at}`);
    this.field = field;
    this.wireType = wireType;
    return true;
  }

  /** Reads an unsigned varint that must fit a safe JS integer (tags, lengths, small counters). */
  readVarint(): number {
    const at = this.pos;
    let result = 0;
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      if (this.pos >= this.end) throw new Error(`protobuf: truncated varint at offset ${at}`);
      const b = this.buf[this.pos++]!;
      // Bit operations are exact up to 28 bits; beyond that, multiplication keeps the value positive and exact to 2^53.
      result = i < 4 ? result | ((b & 0x7f) << (7 * i)) : result + (b & 0x7f) * 2 ** (7 * i);
      if (b < 0x80) {
        if (result > Number.MAX_SAFE_INTEGER) throw new Error(`protobuf: varint at offset ${at} exceeds 2^53`);
        return result;
      }
    }
    throw new Error(`protobuf: varint at offset ${at} is longer than ${MAX_VARINT_BYTES} bytes`);
  }

  /** Reads a varint as an unsigned 64-bit BigInt (exact for any valid varint). */
  readVarintBig(): bigint {
    const at = this.pos;
    let result = 0n;
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      if (this.pos >= this.end) throw new Error(`protobuf: truncated varint at offset ${at}`);
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << BigInt(7 * i);
      if (b < 0x80) return BigInt.asUintN(64, result);
    }
    throw new Error(`protobuf: varint at offset ${at} is longer than ${MAX_VARINT_BYTES} bytes`);
  }

  /** Reads an `int64` field as a number; negative values (10-byte varints) are exact, huge ones are rounded. */
  readInt64(): number {
    return Number(BigInt.asIntN(64, this.readVarintBig()));
  }

  /** Reads a `bool` field: any non-zero varint is true, as in the reference implementation. */
  readBool(): boolean {
    let bits = 0;
    this.scanVarint((b) => (bits |= b & 0x7f));
    return bits !== 0;
  }

  // Skipping needs no value, so it avoids the BigInt path that an exact 64-bit read costs.
  private scanVarint(onByte?: (b: number) => void): void {
    const at = this.pos;
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      if (this.pos >= this.end) throw new Error(`protobuf: truncated varint at offset ${at}`);
      const b = this.buf[this.pos++]!;
      onByte?.(b);
      if (b < 0x80) return;
    }
    throw new Error(`protobuf: varint at offset ${at} is longer than ${MAX_VARINT_BYTES} bytes`);
  }

  /** Reads the length of a length-delimited field and returns the start offset of its payload, after checking bounds. */
  private readLength(): number {
    const at = this.pos;
    const length = this.readVarint();
    const remaining = this.end - this.pos;
    if (length > remaining) {
      throw new Error(`protobuf: length ${length} at offset ${at} exceeds the ${remaining} bytes that remain`);
    }
    const start = this.pos;
    this.pos += length;
    return start;
  }

  /** Reads a length-delimited field as a view on the same buffer (no copy). */
  readBytes(): Uint8Array {
    const start = this.readLength();
    return this.buf.subarray(start, this.pos);
  }

  /** Reads a length-delimited field as UTF-8 text. */
  readString(): string {
    const start = this.readLength();
    return utf8(this.buf, start, this.pos);
  }

  /** Reads a length-delimited field as an embedded message, returning a reader bounded to it. */
  readMessage(): ProtoReader {
    const start = this.readLength();
    return new ProtoReader(this.buf, start, this.pos);
  }

  /** Throws unless the current field has the wire type its schema requires. */
  expect(wireType: number, what: string): void {
    if (this.wireType !== wireType) {
      throw new Error(`protobuf: ${what} (field ${this.field}) has wire type ${this.wireType}, expected ${wireType}`);
    }
  }

  /** Skips the value of the current field, whatever its wire type. */
  skip(): void {
    this.skipValue(this.field, this.wireType, 0);
  }

  private skipValue(field: number, wireType: number, depth: number): void {
    switch (wireType) {
      case WireType.Varint:
        this.scanVarint();
        return;
      case WireType.Fixed64:
        this.advance(8, field);
        return;
      case WireType.LengthDelimited:
        this.readLength();
        return;
      case WireType.Fixed32:
        this.advance(4, field);
        return;
      case WireType.StartGroup:
        this.skipGroup(field, depth + 1);
        return;
      default:
        throw new Error(`protobuf: unexpected end-group for field ${field} before offset ${this.pos}`);
    }
  }

  private skipGroup(field: number, depth: number): void {
    if (depth > MAX_GROUP_DEPTH) throw new Error(`protobuf: groups nested deeper than ${MAX_GROUP_DEPTH}`);
    const at = this.pos;
    while (this.next()) {
      if (this.wireType === WireType.EndGroup) {
        if (this.field !== field) {
          throw new Error(`protobuf: group ${field} closed by end-group ${this.field} before offset ${this.pos}`);
        }
        return;
      }
      this.skipValue(this.field, this.wireType, depth);
    }
    throw new Error(`protobuf: group ${field} starting at offset ${at} is never closed`);
  }

  private advance(bytes: number, field: number): void {
    if (this.end - this.pos < bytes) {
      throw new Error(`protobuf: field ${field} needs ${bytes} bytes at offset ${this.pos}, ${this.end - this.pos} remain`);
    }
    this.pos += bytes;
  }
}
