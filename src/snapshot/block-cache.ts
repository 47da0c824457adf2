/** Least-recently-used map of file blocks, bounded by the bytes it holds rather than by entry count. */
export class BlockCache {
  private readonly blocks = new Map<number, Buffer>();
  private held = 0;

  /** `onEvict` is told of each block the cache evicts to stay within its bound. */
  constructor(
    private maxBytes: number,
    private readonly onEvict?: (index: number, block: Buffer) => void,
  ) {}

  /** Bytes held at most, from now on (evicting the oldest blocks down to it); the previous bound. */
  bound(maxBytes: number): number {
    const before = this.maxBytes;
    this.maxBytes = maxBytes;
    this.evict();
    return before;
  }

  /** Bytes of the blocks held. */
  get bytes(): number {
    return this.held;
  }

  /** The block, marked as most recently used. */
  get(index: number): Buffer | undefined {
    const block = this.blocks.get(index);
    if (block !== undefined) {
      // Map keeps insertion order: re-inserting moves the entry to the young end.
      this.blocks.delete(index);
      this.blocks.set(index, block);
    }
    return block;
  }

  /** The block, not marked as used. */
  peek(index: number): Buffer | undefined {
    return this.blocks.get(index);
  }

  has(index: number): boolean {
    return this.blocks.has(index);
  }

  set(index: number, block: Buffer): void {
    const old = this.blocks.get(index);
    if (old !== undefined) {
      this.held -= old.length;
      this.blocks.delete(index);
    }
    this.blocks.set(index, block);
    this.held += block.length;
    this.evict();
  }

  private evict(): void {
    for (const [oldest, evicted] of this.blocks) {
      if (this.held <= this.maxBytes) break;
      this.blocks.delete(oldest);
      this.held -= evicted.length;
      this.onEvict?.(oldest, evicted);
    }
  }

  delete(index: number): void {
    const block = this.blocks.get(index);
    if (block === undefined) return;
    this.blocks.delete(index);
    this.held -= block.length;
  }

  clear(): void {
    this.blocks.clear();
    this.held = 0;
  }
}
