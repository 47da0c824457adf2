import { SnapshotFormatError } from './errors.js';

const MASK_64 = (1n << 64n) - 1n;

/**
 * A bounds-checked reader of the protobuf wire format of etcd's records (mvccpb.KeyValue, leasepb.Lease): every length
 * is checked against the message before it is used, and a bad one is a SnapshotFormatError naming where it is. (Not
 * kube/protobuf.ts's ProtoReader, which reads Kubernetes objects.)
 */
export class RecordReader {
  private pos = 0;

  constructor(
    private readonly buf: Buffer,
    private readonly where: string,
  ) {}

  get done(): boolean {
    return this.pos >= this.buf.length;
  }

  /** Next field tag: field number * 8 + wire type. */
  tag(): number {
    return this.uint();
  }

  /** An unsigned varint as a number (exact up to 2^53; callers check ranges that matter). */
  uint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) this.fail('varint runs past the end of the message');
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * scale;
      if (b < 0x80) return result;
      scale *= 128;
    }
    return this.fail('varint longer than 10 bytes');
  }

  /** A non-negative int64 field that must fit a JS number exactly (revisions, versions). */
  safeInt(field: string): number {
    const v = this.uint();
    if (!Number.isSafeInteger(v)) this.fail(`${field} ${v} is out of range`);
    return v;
  }

  /** An int64 varint, exactly, with its sign (lease ids use the full 64 bits). */
  int64(): bigint {
    let result = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.buf.length) this.fail('varint runs past the end of the message');
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << BigInt(7 * i);
      if (b < 0x80) return BigInt.asIntN(64, result & MASK_64);
    }
    return this.fail('varint longer than 10 bytes');
  }

  /** A length-delimited field as a view into the message. */
  bytes(): Buffer {
    const length = this.uint();
    if (length > this.buf.length - this.pos) {
      this.fail(`field of ${length} bytes runs past the end of the message (${this.buf.length - this.pos} left)`);
    }
    const out = this.buf.subarray(this.pos, this.pos + length);
    this.pos += length;
    return out;
  }

  /** Skips a field of an unknown number. */
  skip(wireType: number): void {
    switch (wireType) {
      case 0: this.uint(); return;
      case 1: this.advance(8); return;
      case 2: this.bytes(); return;
      case 5: this.advance(4); return;
      default: this.fail(`unsupported wire type ${wireType}`);
    }
  }

  private advance(n: number): void {
    if (n > this.buf.length - this.pos) this.fail('fixed-size field runs past the end of the message');
    this.pos += n;
  }

  private fail(problem: string): never {
    throw new SnapshotFormatError(`${this.where}: bad protobuf at byte ${this.pos}: ${problem}`);
  }
}
