import { availableParallelism } from 'node:os';
import { Transform, type TransformCallback } from 'node:stream';

/** Input is cut into blocks of this size; each becomes one independent compressed unit (gzip member, zstd frame). */
export const COMPRESS_BLOCK = 1024 * 1024;

/** Compresses one block on libuv's thread pool; the result is written as is (one or more buffers, in order). */
export type BlockCompressor = (block: Buffer) => Promise<Buffer | readonly Buffer[]>;

/** How many blocks compress at once by default: one per core, at most 4. */
export const defaultConcurrency = (): number => Math.max(1, Math.min(4, availableParallelism()));

/**
 * Compression on several cores for formats whose independent units concatenate into one valid file (gzip members,
 * zstd frames): cuts the input into blocks and compresses `concurrency` of them at once on libuv's thread pool (no
 * worker threads, no second V8 heap), writing each result in order. Memory stays bounded: at most `concurrency`
 * blocks are in flight, and input waits while they are (the Transform's own back-pressure holds the writer once the
 * reader lags).
 */
export class ParallelBlocks extends Transform {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly inFlight: Array<Promise<Buffer | readonly Buffer[]>> = [];
  private started = false;
  /**
   * Whole blocks this stream copied input into, free again once compressed: reused, because a fresh 1 MiB buffer
   * costs page faults (on this kind of VM ~3 ms per MiB at first touch) and adds to the external memory that drives
   * V8's collections.
   */
  private readonly spare: Buffer[] = [];

  constructor(
    private readonly compress: BlockCompressor,
    private readonly concurrency = defaultConcurrency(),
    private readonly blockSize = COMPRESS_BLOCK,
  ) {
    super({ readableHighWaterMark: 1024 * 1024 });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    this.pump(false).then(() => cb(), cb);
  }

  override _flush(cb: TransformCallback): void {
    this.pump(true).then(() => cb(), cb);
  }

  /** Starts every full block (and, at the end, the rest); waits until fewer than `concurrency` are in flight. */
  private async pump(end: boolean): Promise<void> {
    // An empty input still becomes one (empty) unit: a .gz file of no members is not valid, nor is an empty .zst.
    while (this.pendingBytes >= this.blockSize || (end && (this.pendingBytes > 0 || !this.started))) {
      this.started = true;
      const { block, copied } = this.takeBlock(Math.min(this.blockSize, this.pendingBytes));
      const job = this.compress(block);
      // The compressor is done with its input once it settles (its output is a buffer of its own).
      if (copied && block.length === this.blockSize) job.then(() => this.keepSpare(block), () => undefined);
      job.catch(() => undefined); // awaited in order below; never unhandled meanwhile
      this.inFlight.push(job);
      // `concurrency` blocks compress while the next one fills.
      while (this.inFlight.length > this.concurrency) this.write1(await this.inFlight.shift()!);
    }
    if (end) while (this.inFlight.length > 0) this.write1(await this.inFlight.shift()!);
  }

  /** Keeps a compressed block's buffer for the next one, as many as can be in flight at once. */
  private keepSpare(block: Buffer): void {
    if (this.spare.length <= this.concurrency) this.spare.push(block);
  }

  private write1(out: Buffer | readonly Buffer[]): void {
    if (Buffer.isBuffer(out)) this.push(out);
    else for (const b of out) this.push(b);
  }

  /**
   * The next `size` pending bytes as one buffer: a view when one input chunk holds them (a key dump's 4 MiB pages),
   * else a copy of just those bytes (a snapshot's 32 KiB messages). Copying all pending input instead would copy
   * every large chunk once more, with the leftover of the one before.
   */
  private takeBlock(size: number): { block: Buffer; copied: boolean } {
    this.pendingBytes -= size;
    const first = this.pending[0];
    if (first !== undefined && first.length >= size) {
      if (first.length === size) this.pending.shift();
      else this.pending[0] = first.subarray(size);
      return { block: first.subarray(0, size), copied: false };
    }
    const block = (size === this.blockSize ? this.spare.pop() : undefined) ?? Buffer.allocUnsafe(size);
    for (let at = 0; at < size; ) {
      const c = this.pending[0]!;
      const n = c.copy(block, at, 0, Math.min(c.length, size - at));
      at += n;
      if (n === c.length) this.pending.shift();
      else this.pending[0] = c.subarray(n);
    }
    return { block, copied: true };
  }
}
