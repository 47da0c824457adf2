import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { Readable } from 'node:stream';
import yauzl from 'yauzl';

const BLOCK = 256 * 1024;
/** Blocks kept: the central directory's and the entries' regions are read in turns, each forward. */
const KEEP = 4;

/**
 * A file read for yauzl through a few cached 256 KiB blocks. yauzl's own file reader makes two reads of the file
 * for each entry of the central directory and two more for each local header: on an archive of many small entries
 * (a backup of the Go Reshifter is one entry a key) that was ~0.25 ms a key, most of a restore's time. Entries are
 * read in order, so nearly every read is in a block already read. Memory: KEEP blocks.
 */
export class BlockReader extends yauzl.RandomAccessReader {
  private readonly blocks = new Map<number, Buffer>();
  readonly size: number;
  /** Block buffers allocated so far: KEEP at most, whatever the archive's size (evicted ones are reused). */
  allocated = 0;

  constructor(private readonly fd: number) {
    super();
    this.size = fstatSync(fd).size;
  }

  static open(path: string): BlockReader {
    const fd = openSync(path, 'r');
    try {
      return new BlockReader(fd);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  override read(buffer: Buffer, offset: number, length: number, position: number, callback: (err: Error | null, bytesRead?: number) => void): void {
    let done = 0;
    try {
      for (const part of this.parts(position, position + length)) {
        part.copy(buffer, offset + done);
        done += part.length;
      }
    } catch (err) {
      queueMicrotask(() => callback(err as Error));
      return;
    }
    queueMicrotask(() => callback(null, done));
  }

  override _readStreamForRange(start: number, end: number): Readable {
    // Copies: a value must not keep a whole block alive.
    return Readable.from((function* (r: BlockReader) {
      for (const part of r.parts(start, end)) yield Buffer.from(part);
    })(this), { objectMode: false });
  }

  /** Fills `buffer` from `position` (through the blocks), synchronously; throws when the file ends first. */
  readInto(buffer: Buffer, position: number): void {
    let done = 0;
    for (const part of this.parts(position, position + buffer.length)) done += part.copy(buffer, done);
    if (done < buffer.length) throw new Error(`the file ends at ${position + done}, before ${position + buffer.length}`);
  }

  override close(callback: (err: Error | null) => void): void {
    this.blocks.clear();
    try {
      closeSync(this.fd);
    } catch (err) {
      callback(err as Error);
      return;
    }
    callback(null);
  }

  /** The bytes from `start` to `end` (or to the end of the file), as views of the blocks. */
  private *parts(start: number, end: number): Generator<Buffer> {
    for (let at = start; at < Math.min(end, this.size); ) {
      const index = Math.floor(at / BLOCK);
      const block = this.block(index);
      const from = at - index * BLOCK;
      const to = Math.min(block.length, end - index * BLOCK);
      if (to <= from) return;
      yield block.subarray(from, to);
      at += to - from;
    }
  }

  private allocate(size: number): Buffer {
    this.allocated++;
    return Buffer.allocUnsafe(size);
  }

  private block(index: number): Buffer {
    const kept = this.blocks.get(index);
    if (kept !== undefined) {
      this.blocks.delete(index);
      this.blocks.set(index, kept);
      return kept;
    }
    const start = index * BLOCK;
    const size = Math.min(BLOCK, this.size - start);
    // The oldest block's memory, when it goes now: blocks never leave this reader (read and _readStreamForRange copy),
    // and a fresh 256 KiB a block made the whole archive garbage, which V8 collected only now and then.
    let block: Buffer;
    if (this.blocks.size >= KEEP) {
      const [oldest, memory] = this.blocks.entries().next().value!;
      this.blocks.delete(oldest);
      block = memory.buffer.byteLength >= size && memory.byteOffset === 0 ? Buffer.from(memory.buffer, 0, size) : this.allocate(size);
    } else {
      block = this.allocate(size);
    }
    let got = 0;
    while (got < block.length) {
      const n = readSync(this.fd, block, got, block.length - got, start + got);
      if (n === 0) break;
      got += n;
    }
    const bytes = block.subarray(0, got);
    this.blocks.set(index, bytes);
    return bytes;
  }
}
