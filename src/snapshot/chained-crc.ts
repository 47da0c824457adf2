import { crc32c } from '@node-rs/crc32';
import { hashLeaf } from './bucket-hash.js';
import { crc32cShift } from './crc32c-shift.js';
import type { LeafNode } from './leaf-node.js';
import type { PageScan } from './page-scan.js';

/**
 * The running CRC of `status`, fed in key order with bytes, leaf nodes, or leaves the page scan already hashed in
 * file order. For a scanned leaf the state is kept as "the scan's chained CRC, corrected by an offset shifted over
 * the bytes since": CRC is affine, so crc(x ^ d, B) = crc(x, B) ^ shift(d, |B|). While the walk follows the scan's
 * own order the correction only grows in length, and is computed once when the orders part.
 */
export class ChainedCrc {
  private explicit = true;
  private value = 0;
  private offset = 0;
  private pending = 0;
  private last = -1;

  constructor(private readonly scan?: PageScan) {}

  get crc(): number {
    if (this.explicit) return this.value;
    return ((this.scan as PageScan).chained[this.last]! ^ crc32cShift(this.offset, this.pending)) >>> 0;
  }

  addBytes(bytes: Buffer): void {
    this.set(crc32c(bytes, this.crc));
  }

  addLeaf(leaf: LeafNode): void {
    this.set(hashLeaf(leaf, this.crc));
  }

  /** Adds a leaf the scan hashed. */
  addScanned(pgid: number): void {
    const scan = this.scan as PageScan;
    const previous = scan.previous[pgid]!;
    if (this.explicit || previous !== this.last) {
      const current = this.crc;
      this.offset = (current ^ (previous >= 0 ? scan.chained[previous]! : 0)) >>> 0;
      this.pending = 0;
      this.explicit = false;
    }
    this.pending += scan.bytes[pgid]!;
    this.last = pgid;
  }

  private set(crc: number): void {
    this.value = crc;
    this.explicit = true;
  }
}
