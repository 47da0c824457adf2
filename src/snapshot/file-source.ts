import { open, type FileHandle } from 'node:fs/promises';
import { CachedReader, type CachedReaderOptions } from './cached-reader.js';
import { SnapshotFormatError } from './errors.js';

/** etcd appends sha256(db) to a snapshot; such a file's size is 32 past a multiple of 512. */
export const TRAILER_SIZE = 32;

/** Whether a file of `fileSize` bytes ends with etcd's sha256 trailer (judged by size, as etcd does). */
export function hasTrailerBySize(fileSize: number): boolean {
  return fileSize % 512 === TRAILER_SIZE;
}

/** How a FileSource caches (see CachedReaderOptions). */
export type FileSourceOptions = CachedReaderOptions;

/**
 * A snapshot file opened for positional reads: knows where the bbolt part ends (before etcd's sha256 trailer, when
 * there is one) and checks every range against it before reading, so no caller allocates from an unchecked size.
 * Reads go through a bounded cache (CachedReader), or straight into the caller's buffer.
 */
export class FileSource {
  private readonly cached: CachedReader;
  private closed = false;
  /** Bytes read from the file so far (a walk reports them as its progress). */
  bytesRead = 0;

  private constructor(
    readonly path: string,
    private readonly handle: FileHandle,
    /** Bytes in the file. */
    readonly fileSize: number,
    opts: FileSourceOptions,
  ) {
    this.cached = new CachedReader((buf, position, what) => this.readFully(buf, position, what), this.dataSize, opts);
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

  /** Whether the file ends with etcd's 32-byte sha256 trailer. */
  get hasTrailer(): boolean {
    return hasTrailerBySize(this.fileSize);
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
   * `length` bytes at `offset` of the bbolt part, through the cache (possibly a view into a cached block: copy what
   * you keep). Throws SnapshotFormatError naming `what` when the range is not inside the file.
   */
  read(offset: number, length: number, what: string): Promise<Buffer> {
    this.checkRange(offset, length, what);
    return this.cached.read(offset, length, what);
  }

  /** Like `read`, but synchronous: the bytes when they are cached, otherwise undefined (a walk then costs no promise). */
  readCached(offset: number, length: number, what: string): Buffer | undefined {
    this.checkRange(offset, length, what);
    return this.cached.readCached(offset, length);
  }

  /** Starts reading the blocks at these offsets in the background (see CachedReader.prefetch). */
  prefetch(offsets: number[]): void {
    if (!this.closed) this.cached.prefetch(offsets.filter((o) => o >= 0 && o < this.dataSize));
  }

  /** Fills `buf` from `position`, bypassing the cache (for callers that manage their own buffers). */
  readInto(buf: Buffer, position: number, what: string): Promise<void> {
    this.checkRange(position, buf.length, what);
    return this.readFully(buf, position, what);
  }

  /** Sequential chunks of `[start, end)` read into one reused buffer (valid until the next chunk), bypassing the cache. */
  async *chunks(start: number, end: number, chunkSize = 1024 * 1024): AsyncGenerator<Buffer> {
    this.checkRange(start, end - start, 'file data');
    const buf = Buffer.allocUnsafe(Math.min(chunkSize, Math.max(1, end - start)));
    for (let pos = start; pos < end; pos += buf.length) {
      const n = Math.min(buf.length, end - pos);
      await this.readFully(buf.subarray(0, n), pos, 'file data');
      yield buf.subarray(0, n);
    }
  }

  /** Bytes of file blocks cached now (see CachedReader). */
  get cachedBytes(): number {
    return this.cached.cachedBytes;
  }

  /** Empties the cache (see CachedReader.drop): for a caller whose reads from here on bypass it. */
  dropCache(): void {
    this.cached.drop();
  }

  /**
   * Bounds the cache to `bytes` until the returned function puts the previous bound back (see CachedReader.bound);
   * with `release`, the memory of pages the cache lets go of meanwhile is freed at once (see CachedReader.release):
   * for a walk that keeps nothing of what it was given but what its last read returned.
   */
  boundCache(bytes: number, opts: { release?: boolean } = {}): () => void {
    const before = this.cached.bound(bytes);
    const released = opts.release === undefined ? undefined : this.cached.release(opts.release);
    return () => {
      this.cached.bound(before);
      if (released !== undefined) this.cached.release(released);
    };
  }

  /** Read buffers freed at once so far (see boundCache's `release`). */
  get releasedBuffers(): number {
    return this.cached.released;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Reads in flight finish first, so none lands on a descriptor number the process has reused.
    await this.cached.close();
    await this.handle.close();
  }

  private checkRange(offset: number, length: number, what: string): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 ||
        offset + length > this.dataSize) {
      throw new SnapshotFormatError(
        `${what}: bytes ${offset}..${offset + length} lie outside the file (${this.dataSize} bytes of data)`);
    }
  }

  private async readFully(buf: Buffer, position: number, what: string): Promise<void> {
    let done = 0;
    while (done < buf.length) {
      const { bytesRead } = await this.handle.read(buf, done, buf.length - done, position + done);
      if (bytesRead === 0) {
        throw new SnapshotFormatError(`${what}: file ended at offset ${position + done} (it changed while being read?)`);
      }
      done += bytesRead;
      this.bytesRead += bytesRead;
    }
  }
}
