import { setEntry, utf8 } from './text.js';

const MAX_DEPTH = 64;

/**
 * A small reader of definite-length CBOR (RFC 8949), enough for the header of an object written by Kubernetes' CBOR
 * serializer, which never emits indefinite lengths. Built for untrusted bytes like ProtoReader: every length and count
 * is checked against the bytes that remain, nesting is capped, and errors name the offset.
 * Kubernetes writes strings as byte strings (major type 2), so both string major types decode to JS strings.
 */
export class CborReader {
  pos: number;
  private major = 0;
  private info = 0;
  private arg = 0;

  constructor(
    readonly buf: Uint8Array,
    start = 0,
    readonly end = buf.length,
  ) {
    this.pos = start;
  }

  /** Reads one data item into a plain JS value (maps become objects, byte and text strings become strings). */
  readValue(depth = 0): unknown {
    if (depth > MAX_DEPTH) throw new Error(`cbor: nested deeper than ${MAX_DEPTH}`);
    const at = this.pos;
    this.readHead();
    switch (this.major) {
      case 0:
        return this.arg;
      case 1:
        return -1 - this.arg;
      case 2:
      case 3:
        return this.readPayloadString();
      case 4: {
        const count = this.checkCount(1, at);
        const items: unknown[] = [];
        for (let i = 0; i < count; i++) items.push(this.readValue(depth + 1));
        return items;
      }
      case 5: {
        const count = this.checkCount(2, at);
        const object: Record<string, unknown> = {};
        for (let i = 0; i < count; i++) {
          const key = this.readValue(depth + 1);
          setEntry(object, String(key), this.readValue(depth + 1));
        }
        return object;
      }
      case 6:
        // Tags (self-describe, base64 hints, times) do not change the value a header reader needs.
        return this.readValue(depth + 1);
      default:
        return this.simpleValue(at);
    }
  }

  /** Skips one data item without building it. */
  skip(depth = 0): void {
    if (depth > MAX_DEPTH) throw new Error(`cbor: nested deeper than ${MAX_DEPTH}`);
    const at = this.pos;
    this.readHead();
    switch (this.major) {
      case 2:
      case 3:
        this.pos = this.payloadEnd();
        return;
      case 4:
      case 5: {
        const items = this.checkCount(this.major === 4 ? 1 : 2, at) * (this.major === 4 ? 1 : 2);
        for (let i = 0; i < items; i++) this.skip(depth + 1);
        return;
      }
      case 6:
        this.skip(depth + 1);
        return;
      case 7:
        this.simpleValue(at);
        return;
      default:
        return;
    }
  }

  /** Reads a map header (after any tags) and returns its entry count; throws if the item is not a map. */
  readMapHeader(): number {
    const at = this.pos;
    this.readHead();
    while (this.major === 6) this.readHead();
    if (this.major !== 5) throw new Error(`cbor: expected a map at offset ${at}, found major type ${this.major}`);
    return this.checkCount(2, at);
  }

  /** Reads a map key that is a byte or text string; returns undefined (having skipped it) for any other key. */
  readKey(): string | undefined {
    const at = this.pos;
    const initial = this.buf[at];
    const major = initial === undefined ? -1 : initial >> 5;
    if (major !== 2 && major !== 3) {
      this.skip();
      return undefined;
    }
    this.readHead();
    return this.readPayloadString();
  }

  private readHead(): void {
    if (this.pos >= this.end) throw new Error(`cbor: truncated item at offset ${this.pos}`);
    const at = this.pos;
    const initial = this.buf[this.pos++]!;
    this.major = initial >> 5;
    this.info = initial & 0x1f;
    if (this.info < 24) {
      this.arg = this.info;
    } else if (this.info <= 27) {
      this.arg = this.readUint(1 << (this.info - 24), at);
    } else if (this.info === 31) {
      throw new Error(`cbor: indefinite-length item at offset ${at} is not supported`);
    } else {
      throw new Error(`cbor: reserved additional information ${this.info} at offset ${at}`);
    }
  }

  private readUint(bytes: number, at: number): number {
    if (this.end - this.pos < bytes) throw new Error(`cbor: truncated argument at offset ${at}`);
    let value = 0;
    // Multiplication rather than shifts: shifts are 32-bit signed, and 8-byte arguments only need to stay ordered.
    for (let i = 0; i < bytes; i++) value = value * 256 + this.buf[this.pos++]!;
    return value;
  }

  // Every array item takes at least one byte and every map entry two, so a count beyond that is corrupt; checking
  // here also bounds the loops and allocations that follow.
  private checkCount(bytesPerItem: number, at: number): number {
    const remaining = this.end - this.pos;
    if (this.arg * bytesPerItem > remaining) {
      throw new Error(`cbor: count ${this.arg} at offset ${at} exceeds the ${remaining} bytes that remain`);
    }
    return this.arg;
  }

  private payloadEnd(): number {
    const remaining = this.end - this.pos;
    if (this.arg > remaining) {
      throw new Error(`cbor: length ${this.arg} at offset ${this.pos} exceeds the ${remaining} bytes that remain`);
    }
    return this.pos + this.arg;
  }

  private readPayloadString(): string {
    const start = this.pos;
    this.pos = this.payloadEnd();
    return utf8(this.buf, start, this.pos);
  }

  // Major type 7: the head already consumed any float bits into `arg`, so floats are rebuilt from the bytes behind pos.
  private simpleValue(at: number): unknown {
    switch (this.info) {
      case 20:
        return false;
      case 21:
        return true;
      case 22:
        return null;
      case 25:
      case 26:
      case 27: {
        const size = 1 << (this.info - 24);
        const view = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos - size, size);
        return size === 2 ? halfToNumber(view.getUint16(0)) : size === 4 ? view.getFloat32(0) : view.getFloat64(0);
      }
      default:
        if (this.info === 24 && this.arg < 32) throw new Error(`cbor: invalid simple value at offset ${at}`);
        return undefined;
    }
  }
}

function halfToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 0x1f) return fraction === 0 ? sign * Infinity : NaN;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}
