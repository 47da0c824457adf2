import { open, type FileHandle } from 'node:fs/promises';
import { BlockCache } from './block-cache.js';
import { SnapshotFormatError } from './errors.js';

/** etcd appends sha256(db) to a snapshot; such a file's size is 32 past a multiple of 512. */
export const TRAILER_SIZE = 32;

export interface FileSourceOptions {
  /** Most bytes of file blocks kept in memory. Default 48 MiB. */
  cacheBytes?: number;
  /** Unit of caching and of random reads. Default 64 KiB. */
  blockSize?: number;
  /** Largest single read when access is sequential. Default 1 MiB. */
  maxReadAhead?: number;
  /**
   * Reuse the memory of evicted reads for new ones. Much cheaper for a whole-file walk (fresh memory costs a page
   * fault per 4 KiB), but a returned buffer is then only valid until about `cacheBytes` more have been read: only
   * for callers that copy whatever they keep longer than the page at hand.
   */
  recycle?: boolean;
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
 * Positional reads from a snapshot file through a bounded block cache. Sequential access grows the read size up to
 * `maxReadAhead` and prefetches the next run, so a walk over mostly-ordered leaf pages costs a few hundred large reads
 * rather than one read per page; random access reads single blocks.
 *
 * Returned buffers may be views into cached blocks. Blocks are never reused, so views stay valid, but holding many of
 * them keeps their blocks alive: copy what you keep.
 */
export class FileSource {
  private readonly cache: BlockCache;
  private readonly pending = new Map<number, PendingRun>();
  private readonly blockSize: number;
  private readonly maxWindow: number;
  private readonly blockCount: number;
  private streams: Stream[] = [];
  /** Recycling: per read buffer, how many of its blocks are still cached; and buffers ready for reuse. */
  private readonly liveBlocks = new Map<ArrayBufferLike, { buf: Buffer; cached: number }>();
  private readonly spare: Buffer[] = [];
  private readonly recycle: boolean;
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    /** Bytes in the file. */
    readonly fileSize: number,
    opts: FileSourceOptions,
  ) {
    this.blockSize = opts.blockSize ?? 64 * 1024;
    this.maxWindow = Math.max(1, Math.floor((opts.maxReadAhead ?? 1024 * 1024) / this.blockSize));
    this.recycle = opts.recycle ?? false;
    this.cache = new BlockCache(opts.cacheBytes ?? 48 * 1024 * 1024, (block) => this.evicted(block));
    this.blockCount = Math.ceil(this.dataSize / this.blockSize);
  }

  /** Opens `path` for reading. */
  static async open(path: string, opts: FileSourceOptions = {}): Promise<FileSource> {
    const handle = await open(path, 'r');
    try {
      const { size } = await handle.stat();
      return new FileSource(path, handle, size, opts);
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  /** Whether the file ends with etcd's 32-byte sha256 trailer (judged by size, as etcd does). */
  get hasTrailer(): boolean {
    return this.fileSize % 512 === TRAILER_SIZE;
  }

  /** Bytes of the bbolt part: the file without its trailer. */
  get dataSize(): number {
    return this.hasTrailer ? this.fileSize - TRAILER_SIZE : this.fileSize;
  }

  /** The 32-byte trailer, or undefined when the file has none. */
  async readTrailer(): Promise<Buffer | undefined> {
    if (!this.hasTrailer) return undefined;
    const buf = Buffer.alloc(TRAILER_SIZE);
    await this.readFully(buf, this.dataSize, 'sha256 trailer');
    return buf;
  }

  /**
   * `length` bytes at `offset` of the bbolt part. Throws SnapshotFormatError naming `what` when the range is not
   * inside the file, so no caller ever allocates from an unchecked size.
   */
  async read(offset: number, length: number, what: string): Promise<Buffer> {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 ||
        offset + length > this.dataSize) {
      throw new SnapshotFormatError(
        `${what}: bytes ${offset}..${offset + length} lie outside the file (${this.dataSize} bytes of data)`);
    }
    if (length === 0) return EMPTY;
    const bs = this.blockSize;
    const first = Math.floor(offset / bs);
    const last = Math.floor((offset + length - 1) / bs);
    if (first === last) {
      const block = await this.block(first, what);
      const start = offset - first * bs;
      return block.subarray(start, start + length);
    }
    if (length > this.maxWindow * bs) {
      // A huge overflow page (a value of megabytes): read it once, directly, and keep it out of the cache.
      const out = Buffer.allocUnsafe(length);
      await this.readFully(out, offset, what);
      return out;
    }
    const blocks: Buffer[] = [];
    for (let b = first; b <= last; b++) blocks.push(await this.block(b, what));
    const head = blocks[0] as Buffer;
    const tail = blocks[blocks.length - 1] as Buffer;
    const start = head.byteOffset + (offset - first * bs);
    if (head.buffer === tail.buffer && tail.byteOffset === head.byteOffset + (last - first) * bs) {
      // The blocks came from one read and lie side by side in its buffer: a view instead of a copy.
      return Buffer.from(head.buffer, start, length);
    }
    const out = Buffer.allocUnsafe(length);
    blocks.forEach((block, i) => {
      const b = first + i;
      const from = Math.max(offset, b * bs);
      const to = Math.min(offset + length, (b + 1) * bs);
      block.copy(out, from - offset, from - b * bs, to - b * bs);
    });
    return out;
  }

  /** Sequential chunks of `[start, end)` read into one reused buffer (valid until the next chunk), bypassing the cache. */
  async *chunks(start: number, end: number, chunkSize = 1024 * 1024): AsyncGenerator<Buffer> {
    const buf = Buffer.allocUnsafe(Math.min(chunkSize, Math.max(1, end - start)));
    for (let pos = start; pos < end; pos += buf.length) {
      const n = Math.min(buf.length, end - pos);
      await this.readFully(buf.subarray(0, n), pos, 'file data');
      yield buf.subarray(0, n);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.cache.clear();
    // Let reads in flight finish before the descriptor goes away, so none lands on a reused fd.
    await Promise.allSettled([...this.pending.values()].map((p) => p.run));
    await this.handle.close();
  }

  private async block(index: number, what: string): Promise<Buffer> {
    const hit = this.cache.get(index);
    if (hit !== undefined) {
      this.maybePrefetch(index);
      return hit;
    }
    let pending = this.pending.get(index);
    if (pending === undefined) {
      this.startRun(index, this.streamFor(index), what);
      pending = this.pending.get(index) as PendingRun;
    } else {
      this.maybePrefetch(index);
    }
    const blocks = await pending.run;
    return blocks[pending.index] as Buffer;
  }

  /** The stream a miss at `index` continues (its window doubled, as an OS read-ahead does), or a new one. */
  private streamFor(index: number): Stream {
    const at = this.streams.findIndex((s) => s.next === index);
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
    while (count < stream.window && first + count < this.blockCount &&
           !this.cache.has(first + count) && !this.pending.has(first + count)) {
      count++;
    }
    const bs = this.blockSize;
    const start = first * bs;
    const length = Math.min(count * bs, this.dataSize - start);
    const run = (async () => {
      const buf = (length === this.maxWindow * bs ? this.spare.pop() : undefined) ?? Buffer.allocUnsafe(length);
      await this.readFully(buf, start, what);
      const blocks: Buffer[] = [];
      for (let i = 0; i < count; i++) blocks.push(buf.subarray(i * bs, Math.min((i + 1) * bs, length)));
      return blocks;
    })();
    for (let i = 0; i < count; i++) this.pending.set(first + i, { run, index: i });
    run.then(
      (blocks) => {
        if (this.recycle && !this.closed && blocks[0] !== undefined) {
          const buf = Buffer.from(blocks[0].buffer, blocks[0].byteOffset, length);
          this.liveBlocks.set(buf.buffer, { buf, cached: count });
        }
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
    stream.next = first + count;
    // Prefetch as soon as the reader enters this run, keeping one run in flight ahead of it.
    stream.prefetchAt = count > 1 ? first : -1;
  }

  private evicted(block: Buffer): void {
    const live = this.liveBlocks.get(block.buffer);
    if (live === undefined || --live.cached > 0) return;
    this.liveBlocks.delete(block.buffer);
    // A few spares suffice: eviction frees one run for every run read.
    if (live.buf.length === this.maxWindow * this.blockSize && this.spare.length < 4) this.spare.push(live.buf);
  }

  private async readFully(buf: Buffer, position: number, what: string): Promise<void> {
    let done = 0;
    while (done < buf.length) {
      const { bytesRead } = await this.handle.read(buf, done, buf.length - done, position + done);
      if (bytesRead === 0) {
        throw new SnapshotFormatError(`${what}: file ended at offset ${position + done} (it changed while being read?)`);
      }
      done += bytesRead;
    }
  }
}
