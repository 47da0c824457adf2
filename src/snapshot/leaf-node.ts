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

  /**
   * @param buffer holds the page; the page header starts at `start`, and nothing past `end` belongs to it.
   * @param pgid the page id, or 0 for an inline bucket's page.
   * @param where names the page in error messages.
   */
  constructor(
    readonly buffer: Buffer,
    start: number,
    end: number,
    readonly pgid: number,
    readonly count: number,
    readonly where: string,
  ) {
    this.start = start;
    this.end = end;
    this.elements = start + PAGE_HEADER_SIZE;
    if (this.elements + count * ELEMENT_SIZE > end) {
      throw new SnapshotFormatError(`${where}: ${count} leaf elements do not fit in the page (${end - start} bytes)`);
    }
    for (let i = 0; i < count; i++) {
      const e = this.elements + i * ELEMENT_SIZE;
      const keyStart = e + buffer.readUInt32LE(e + 4);
      const dataEnd = keyStart + buffer.readUInt32LE(e + 8) + buffer.readUInt32LE(e + 12);
      if (dataEnd > end) {
        throw new SnapshotFormatError(`${where}: leaf element ${i} (key at +${keyStart - start}, ` +
          `${dataEnd - keyStart} bytes of key and value) runs past the page end (${end - start} bytes)`);
      }
    }
  }

  /** The same node over a private copy of its bytes, for keeping it while more pages are read. */
  copy(): LeafNode {
    const own = Buffer.from(this.buffer.subarray(this.start, this.end));
    return new LeafNode(own, 0, own.length, this.pgid, this.count, this.where);
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

  value(i: number): Buffer {
    const start = this.keyStart(i) + this.keySize(i);
    return this.buffer.subarray(start, start + this.valueSize(i));
  }
}
