import { BlockCache } from './block-cache.js';

/** Reads exactly `buf.length` bytes at `position` into `buf`, or throws. */
export type ReadAt = (buf: Buffer, position: number, what: string) => Promise<void>;

/** Sizes of the cache and of its reads. */
export interface CachedReaderOptions {
  /** Most bytes of file blocks kept in memory. Default 48 MiB. */
  cacheBytes?: number;
  /** Unit of caching and of random reads. Default 64 KiB. */
  blockSize?: number;
  /** Largest single read when access is sequential. Default 1 MiB. */
  maxReadAhead?: number;
}

interface PendingRun {
  run: Promise<Buffer[]>;
  index: number;
}

/** One sequential reader being tracked: where it will read next, how far ahead to read, when to prefetch. */
interface Stream {
  next: number;
  window: number;
  prefetchAt: number;
}

/**
 * A tree walk interleaves several sequential runs (leaf pages, overflow pages, branch pages), so a few streams are
 * tracked at once; a miss that continues none starts a new one in place of the least recently used.
 */
const STREAMS = 4;

const EMPTY: Buffer = Buffer.alloc(0);

/**
 * Reads whose buffers are not freed yet while releasing (see `release`): a walk holds the page it was last given (two
 * reads: its header, then the page) and copies of its branch pages.
 */
const HANDED = 8;

/** ArrayBuffer.prototype.transfer (ES2024): moves the bytes to a new buffer of `length`, detaching this one. */
type Transferable = ArrayBufferLike & { transfer(length: number): ArrayBuffer };

/**
 * Reads through a bounded block cache. Sequential access grows the read size up to `maxReadAhead` and prefetches the
 * next run, and callers that know what they read next can `prefetch` it, so a walk over mostly-ordered pages costs a
 * few hundred large reads rather than one read per page; random access reads single blocks. Ranges are not checked
 * here: the caller checks them against the file first.
 *
 * Returned buffers may be views into cached blocks. Blocks are never reused, so views stay valid, but holding many of
 * them keeps their blocks alive: copy what you keep.
 */
export class CachedReader {
  private readonly cache: BlockCache;
  private readonly pending = new Map<number, PendingRun>();
  private readonly blockSize: number;
  private readonly maxWindow: number;
  private readonly blockCount: number;
  private streams: Stream[] = [];
  private closed = false;
  /** Releasing (see `release`): the buffers of runs read since, not yet let go of by the cache. */
  private releasing = false;
  private readonly releasable = new Set<ArrayBufferLike>();
  /** Buffers of releasable runs the cache let go of, freed at the next read; those of the last reads handed out. */
  private evicted: ArrayBufferLike[] = [];
  private handed: ArrayBufferLike[] = [];
  /** Reads awaiting their blocks now: buffers are freed only when none is (one may be joining blocks it took). */
  private reading = 0;
  /** Buffers freed so far while releasing (see `release`). */
  released = 0;

  constructor(
    private readonly readAt: ReadAt,
    private readonly size: number,
    opts: CachedReaderOptions = {},
  ) {
    this.blockSize = opts.blockSize ?? 64 * 1024;
    this.maxWindow = Math.max(1, Math.floor((opts.maxReadAhead ?? 1024 * 1024) / this.blockSize));
    this.cache = new BlockCache(opts.cacheBytes ?? 48 * 1024 * 1024, (index, block) => this.evictRun(index, block));
    this.blockCount = Math.ceil(size / this.blockSize);
  }

  /** `length` bytes at `offset`. */
  read(offset: number, length: number, what: string): Promise<Buffer> {
    const cached = this.readCached(offset, length);
    return cached === undefined ? this.readAwaited(offset, length, what) : Promise.resolve(cached);
  }

  /** Like `read`, but synchronous: the bytes when every block they need is cached, otherwise undefined. */
  readCached(offset: number, length: number): Buffer | undefined {
    if (this.evicted.length > 0 && this.reading === 0) this.freeEvicted();
    return this.handedOut(this.fromCache(offset, length));
  }

  private fromCache(offset: number, length: number): Buffer | undefined {
    if (length === 0) return EMPTY;
    const bs = this.blockSize;
    const first = Math.floor(offset / bs);
    const last = Math.floor((offset + length - 1) / bs);
    if (first === last) {
      const block = this.cachedBlock(first);
      const start = offset - first * bs;
      return block?.subarray(start, start + length);
    }
    if (length > this.maxWindow * bs) return undefined;
    const blocks: Buffer[] = [];
    for (let b = first; b <= last; b++) {
      const block = this.cachedBlock(b);
      if (block === undefined) return undefined;
      blocks.push(block);
    }
    return this.join(blocks, offset, length);
  }

  /** Bytes of blocks cached now. */
  get cachedBytes(): number {
    return this.cache.bytes;
  }

  /**
   * Empties the cache, which keeps working: for a caller done with the pages it read through it, whose next reads go
   * around it (readInto), so the blocks held would only take memory.
   */
  drop(): void {
    this.cache.clear();
  }

  /** Holds at most `bytes` of blocks from now on; returns the previous bound. */
  bound(bytes: number): number {
    return this.cache.bound(bytes);
  }

  /**
   * Frees the buffer of each run read from now on as soon as the cache lets go of its blocks (with the rest of its
   * run), or stops; returns the previous setting. A buffer the cache let go of is otherwise garbage V8 frees only once
   * ~64 MB of it have piled up: a walk over hundreds of megabytes through a 16 MiB cache held up to 64 MB of pages it
   * had passed. For a walk that keeps no bytes it was given but what its last read returned (and copies): a buffer is
   * freed at the next read, unless one of the last HANDED reads returned a view of it.
   */
  release(on: boolean): boolean {
    const before = this.releasing;
    this.releasing = on;
    if (!on) {
      this.releasable.clear();
      this.evicted = [];
      this.handed = [];
    }
    return before;
  }

  /** Notes the buffer behind bytes given out while releasing (see `release`). */
  private handedOut(bytes: Buffer | undefined): Buffer | undefined {
    // Of a run evicted while a read awaited it too: its buffer is not freed yet.
    if (bytes !== undefined && (this.releasable.has(bytes.buffer) || this.evicted.includes(bytes.buffer))) {
      this.handed.push(bytes.buffer);
      if (this.handed.length > HANDED) this.handed.shift();
    }
    return bytes;
  }

  /** An evicted block: a releasable run's other blocks go with it (one keeps the buffer), its buffer to be freed. */
  private evictRun(index: number, block: Buffer): void {
    if (!this.releasable.delete(block.buffer)) return;
    for (let i = index - 1; this.cache.peek(i)?.buffer === block.buffer; i--) this.cache.delete(i);
    for (let i = index + 1; this.cache.peek(i)?.buffer === block.buffer; i++) this.cache.delete(i);
    this.evicted.push(block.buffer);
  }

  /** Frees the evicted buffers no recent read handed out (transfer(0) frees at once, where garbage waits for V8). */
  private freeEvicted(): void {
    const kept: ArrayBufferLike[] = [];
    for (const buffer of this.evicted) {
      if (this.handed.includes(buffer)) {
        kept.push(buffer);
      } else {
        (buffer as Transferable).transfer(0);
        this.released++;
      }
    }
    this.evicted = kept;
  }

  /** readUncached, its bytes noted as given out. */
  private async readAwaited(offset: number, length: number, what: string): Promise<Buffer> {
    this.reading++;
    try {
      const bytes = await this.readUncached(offset, length, what);
      this.handedOut(bytes);
      return bytes;
    } finally {
      this.reading--;
    }
  }

  /** Stops caching; waits for reads in flight (so none lands after the caller closes the file). */
  async close(): Promise<void> {
    this.closed = true;
    this.cache.clear();
    await Promise.allSettled([...this.pending.values()].map((p) => p.run));
  }

  private async readUncached(offset: number, length: number, what: string): Promise<Buffer> {
    const bs = this.blockSize;
    const first = Math.floor(offset / bs);
    const last = Math.floor((offset + length - 1) / bs);
    if (length > this.maxWindow * bs) {
      // A huge overflow page (a value of megabytes): read it once, directly, and keep it out of the cache.
      const out = Buffer.allocUnsafe(length);
      await this.readAt(out, offset, what);
      return out;
    }
    const blocks: Buffer[] = [];
    for (let b = first; b <= last; b++) blocks.push(this.cachedBlock(b) ?? (await this.fetchBlock(b, what)));
    return this.join(blocks, offset, length);
  }

  /** `length` bytes at `offset` out of the consecutive blocks that cover them. */
  private join(blocks: Buffer[], offset: number, length: number): Buffer {
    const bs = this.blockSize;
    const head = blocks[0] as Buffer;
    const skip = offset % bs;
    if (blocks.length === 1) return head.subarray(skip, skip + length);
    if (blocks.every((b, i) => b.buffer === head.buffer && b.byteOffset === head.byteOffset + i * bs)) {
      // The blocks lie side by side in one piece of memory (one read): a view, no copy.
      return Buffer.from(head.buffer, head.byteOffset + skip, length);
    }
    const out = Buffer.allocUnsafe(length);
    let written = 0;
    blocks.forEach((block, i) => {
      const from = i === 0 ? skip : 0;
      const n = Math.min(block.length - from, length - written);
      block.copy(out, written, from, from + n);
      written += n;
    });
    return out;
  }

  /** A cached block (marked recently used, and starting read-ahead when a stream reaches it), or undefined. */
  private cachedBlock(index: number): Buffer | undefined {
    const hit = this.cache.get(index);
    if (hit !== undefined) {
      this.maybePrefetch(index);
    }
    return hit;
  }

  private async fetchBlock(index: number, what: string): Promise<Buffer> {
    let pending = this.pending.get(index);
    if (pending === undefined) {
      this.startRun(index, this.streamFor(index), what);
      pending = this.pending.get(index) as PendingRun;
    } else {
      this.maybePrefetch(index);
    }
    return (await pending.run)[pending.index] as Buffer;
  }

  /** The stream a miss at `index` continues (its window doubled, as an OS read-ahead does), or a new one. */
  private streamFor(index: number): Stream {
    // A short skip forward (pages of another tree interleaved with this one) still continues the stream.
    const at = this.streams.findIndex((s) => index >= s.next && index <= s.next + s.window);
    let stream: Stream;
    if (at >= 0) {
      stream = this.streams[at] as Stream;
      this.streams.splice(at, 1);
      stream.window = Math.min(stream.window * 2, this.maxWindow);
    } else {
      stream = { next: index, window: 1, prefetchAt: -1 };
      if (this.streams.length >= STREAMS) this.streams.shift();
    }
    this.streams.push(stream);
    return stream;
  }

  /** Reading the middle of a stream's last run starts the next run, so I/O overlaps the caller's work. */
  private maybePrefetch(index: number): void {
    const stream = this.streams.find((s) => s.prefetchAt === index);
    if (stream === undefined) return;
    stream.prefetchAt = -1;
    const next = stream.next;
    if (next < this.blockCount && !this.cache.has(next) && !this.pending.has(next)) {
      stream.window = Math.min(stream.window * 2, this.maxWindow);
      this.startRun(next, stream, 'read-ahead');
    }
  }

  private startRun(first: number, stream: Stream, what: string): void {
    let count = 1;
    while (count < stream.window && this.wanted(first + count)) count++;
    this.readRun(first, count, what);
    stream.next = first + count;
    // Prefetch as soon as the reader enters this run, keeping one run in flight ahead of it.
    stream.prefetchAt = count > 1 ? first : -1;
  }

  /** Whether block `index` exists and is neither cached nor being read. */
  private wanted(index: number): boolean {
    return index < this.blockCount && !this.cache.has(index) && !this.pending.has(index);
  }

  /**
   * Starts reading the blocks holding these byte offsets, without waiting: a caller that knows what it will read
   * next (a tree walk knows its next children) hides the disk behind its own work. Nearby blocks are merged into
   * reads of up to `maxReadAhead`; a small gap is read through rather than costing another read.
   */
  prefetch(offsets: number[]): void {
    if (this.closed) return;
    const blocks = [...new Set(offsets.map((o) => Math.floor(o / this.blockSize)))]
      .filter((b) => b >= 0 && this.wanted(b))
      .sort((a, b) => a - b);
    let i = 0;
    while (i < blocks.length) {
      const first = blocks[i] as number;
      let count = 1;
      i++;
      while (i < blocks.length) {
        const end = (blocks[i] as number) + 1 - first;
        if (end > this.maxWindow || (blocks[i] as number) - (first + count) > 2) break;
        // Read through the gap only if no block in it is cached or in flight already.
        let free = true;
        for (let b = first + count; b < (blocks[i] as number); b++) free &&= this.wanted(b);
        if (!free) break;
        count = end;
        i++;
      }
      this.readRun(first, count, 'prefetch');
    }
  }

  private readRun(first: number, count: number, what: string): void {
    const bs = this.blockSize;
    const start = first * bs;
    const length = Math.min(count * bs, this.size - start);
    const buf = Buffer.allocUnsafe(length);
    // Its own ArrayBuffer (runs are over the pool's 4 KiB, but the file's last block may not be).
    if (this.releasing && buf.byteOffset === 0 && buf.buffer.byteLength === length) this.releasable.add(buf.buffer);
    const run = (async () => {
      await this.readAt(buf, start, what);
      const blocks: Buffer[] = [];
      for (let i = 0; i < count; i++) blocks.push(buf.subarray(i * bs, Math.min((i + 1) * bs, length)));
      return blocks;
    })();
    for (let i = 0; i < count; i++) this.pending.set(first + i, { run, index: i });
    run.then(
      (blocks) => {
        blocks.forEach((block, i) => {
          this.pending.delete(first + i);
          if (!this.closed) this.cache.set(first + i, block);
        });
      },
      // Whoever awaits this run sees the error; an unawaited prefetch must not become an unhandled rejection.
      () => {
        for (let i = 0; i < count; i++) this.pending.delete(first + i);
      },
    );
  }
}
