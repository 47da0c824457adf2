import { u32At, u64At } from './bytes.js';
import { SnapshotFormatError } from './errors.js';
import { ELEMENT_SIZE, PAGE_HEADER_SIZE } from './page-header.js';

/** A branch page whose elements and keys have been checked to lie inside it. Child ids are not checked here. */
export class BranchNode {
  constructor(
    readonly buffer: Buffer,
    readonly pgid: number,
    readonly count: number,
    readonly where: string,
  ) {
    if (count === 0) throw new SnapshotFormatError(`${where}: branch page has no elements`);
    const end = buffer.length;
    if (PAGE_HEADER_SIZE + count * ELEMENT_SIZE > end) {
      throw new SnapshotFormatError(`${where}: ${count} branch elements do not fit in the page (${end} bytes)`);
    }
    for (let i = 0; i < count; i++) {
      const e = PAGE_HEADER_SIZE + i * ELEMENT_SIZE;
      const keyStart = e + u32At(buffer, e);
      const keyEnd = keyStart + u32At(buffer, e + 4);
      if (keyEnd > end) {
        throw new SnapshotFormatError(`${where}: branch element ${i} key (at +${keyStart}, ` +
          `${keyEnd - keyStart} bytes) runs past the page end (${end} bytes)`);
      }
    }
  }

  key(i: number): Buffer {
    const e = PAGE_HEADER_SIZE + i * ELEMENT_SIZE;
    const start = e + this.buffer.readUInt32LE(e);
    return this.buffer.subarray(start, start + this.buffer.readUInt32LE(e + 4));
  }

  /** The page id of child i (0 <= i < count: the constructor checked that those elements lie inside the page). */
  child(i: number): number {
    return u64At(this.buffer, PAGE_HEADER_SIZE + i * ELEMENT_SIZE + 8);
  }
}
