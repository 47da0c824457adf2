import { SnapshotFormatError } from './errors.js';
import { BUCKET_LEAF_FLAG, ELEMENT_SIZE, PAGE_HEADER_SIZE } from './page-header.js';

/**
 * A leaf page (or an inline bucket's page inside a value) whose elements have all been checked to lie inside it,
 * so the accessors below never read out of bounds. Keys and values are views into the page buffer.
 */
export class LeafNode {
  private readonly elements: number;
  /** Where the page's header starts in `buffer`, and where the page ends. */
  readonly start: number;
  readonly end: number;

  /** Where the page and its overflow end: past `end` when only the page's head was read (see `complete`). */
  readonly spanEnd: number;

  /**
   * @param buffer holds the page; the page header starts at `start`, and nothing past `end` belongs to it.
   * @param pgid the page id, or 0 for an inline bucket's page.
   * @param where names the page in error messages.
   * @param spanEnd where the page with its overflow ends, when `buffer` holds only its first `end - start` bytes (a
   *   walk that needs keys but not whole values: see BoltFile.readNodeHead); `end` by default.
   */
  constructor(
    readonly buffer: Buffer,
    start: number,
    end: number,
    readonly pgid: number,
    readonly count: number,
    readonly where: string,
    spanEnd = end,
  ) {
    this.start = start;
    this.end = end;
    this.spanEnd = spanEnd;
    this.elements = start + PAGE_HEADER_SIZE;
    if (this.elements + count * ELEMENT_SIZE > end) {
      throw new SnapshotFormatError(`${where}: ${count} leaf elements do not fit in the page (${end - start} bytes)`);
    }
    for (let i = 0; i < count; i++) {
      const e = this.elements + i * ELEMENT_SIZE;
      const keyStart = e + buffer.readUInt32LE(e + 4);
      const dataEnd = keyStart + buffer.readUInt32LE(e + 8) + buffer.readUInt32LE(e + 12);
      if (dataEnd > spanEnd) {
        throw new SnapshotFormatError(`${where}: leaf element ${i} (key at +${keyStart - start}, ` +
          `${dataEnd - keyStart} bytes of key and value) runs past the page end (${spanEnd - start} bytes)`);
      }
    }
  }

  /** Whether the whole page is in `buffer`; when not, `value` gives only what of a value lies in the head read. */
  get complete(): boolean {
    return this.spanEnd === this.end;
  }

  /** Bytes of the page with its overflow (of the file, whether or not all of them were read). */
  get spanBytes(): number {
    return this.spanEnd - this.start;
  }

  /** Whether element i's key lies whole in `buffer` (always, when the node is complete). */
  hasKey(i: number): boolean {
    return this.keyStart(i) + this.keySize(i) <= this.end;
  }

  /** The same node over a private copy of its bytes, for keeping it while more pages are read. */
  copy(): LeafNode {
    const own = Buffer.from(this.buffer.subarray(this.start, this.end));
    return new LeafNode(own, 0, own.length, this.pgid, this.count, this.where, this.spanBytes);
  }

  isBucket(i: number): boolean {
    return (this.buffer.readUInt32LE(this.elements + i * ELEMENT_SIZE) & BUCKET_LEAF_FLAG) !== 0;
  }

  /** Offset of element i's key in `buffer`; its value follows the key. */
  keyStart(i: number): number {
    const e = this.elements + i * ELEMENT_SIZE;
    return e + this.buffer.readUInt32LE(e + 4);
  }

  keySize(i: number): number {
    return this.buffer.readUInt32LE(this.elements + i * ELEMENT_SIZE + 8);
  }

  valueSize(i: number): number {
    return this.buffer.readUInt32LE(this.elements + i * ELEMENT_SIZE + 12);
  }

  key(i: number): Buffer {
    const start = this.keyStart(i);
    return this.buffer.subarray(start, start + this.keySize(i));
  }

  /** Element i's value; of a node that is not `complete`, only the part of it inside the head read. */
  value(i: number): Buffer {
    const start = this.keyStart(i) + this.keySize(i);
    return this.buffer.subarray(Math.min(start, this.end), Math.min(start + this.valueSize(i), this.end));
  }
}
