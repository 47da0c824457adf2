/** A set of page ids as a bitset: one bit per page of the file, so tracking visits costs pageCount / 8 bytes. */
export class PageSet {
  private readonly bits: Uint8Array;

  constructor(readonly pageCount: number) {
    this.bits = new Uint8Array(Math.ceil(pageCount / 8));
  }

  has(pgid: number): boolean {
    return (this.bits[Math.floor(pgid / 8)]! & (1 << pgid % 8)) !== 0;
  }

  add(pgid: number): void {
    this.bits[Math.floor(pgid / 8)] |= 1 << pgid % 8;
  }

  /** Number of ids in the set. */
  size(): number {
    let n = 0;
    for (let id = 0; id < this.pageCount; id++) if (this.has(id)) n++;
    return n;
  }
}
