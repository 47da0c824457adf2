import { open, type FileHandle } from 'node:fs/promises';

/**
 * Sorted runs on disk, as walks that hold too many entries spill them (snapshot/key-spill.ts, ops/change-index.ts):
 * each record is a name's length (u32), the name (latin1: one byte per char, so names compare in etcd's byte order),
 * then `tail` bytes of fixed size.
 */
export interface RunFormat<T> {
  /** Bytes of a record after its name. */
  tail: number;
  /** The entry of the record whose tail begins at `at`. */
  decode(buf: Buffer, at: number, name: string): T;
}

/** Entries by name: latin1 names compare as their bytes do (etcd's key order). */
export const byName = (a: { name: string }, b: { name: string }): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

const WRITE_BYTES = 1 << 20;
/** Entries given at a time by mergeRuns. */
const BATCH = 1024;

/** Writes `items` (already in order) as a new run at `path`; `encodeTail` writes an item's tail at `at`. */
export async function writeRun<I>(
  path: string,
  items: Iterable<I>,
  nameOf: (item: I) => string,
  tail: number,
  encodeTail: (buf: Buffer, at: number, item: I) => void,
): Promise<void> {
  const fh = await open(path, 'wx', 0o600);
  try {
    let buf = Buffer.allocUnsafe(WRITE_BYTES);
    let at = 0;
    for (const item of items) {
      const name = nameOf(item);
      const need = 4 + name.length + tail;
      if (at + need > buf.length) {
        await fh.write(buf, 0, at);
        at = 0;
        if (need > buf.length) buf = Buffer.allocUnsafe(need);
      }
      buf.writeUInt32LE(name.length, at);
      at += 4 + buf.write(name, at + 4, 'latin1');
      encodeTail(buf, at, item);
      at += tail;
    }
    await fh.write(buf, 0, at);
  } finally {
    await fh.close();
  }
}

/** A run read in order, `readBytes` at a time. */
class RunReader<T> {
  private buf = Buffer.alloc(0);
  private at = 0;
  private position = 0;
  private done = false;
  /** The record at hand: undefined once the run is read. */
  head: T | undefined;

  private constructor(
    private readonly fh: FileHandle,
    private readonly format: RunFormat<T>,
    private readonly readBytes: number,
  ) {}

  static async open<T>(path: string, format: RunFormat<T>, readBytes: number): Promise<RunReader<T>> {
    const r = new RunReader(await open(path, 'r'), format, readBytes);
    await r.next();
    return r;
  }

  /** Moves to the next record; a promise only when the buffer has to be filled first. */
  next(): Promise<void> | undefined {
    if (this.decode()) return undefined;
    return this.fillAndDecode();
  }

  close(): Promise<void> {
    return this.fh.close();
  }

  private async fillAndDecode(): Promise<void> {
    while (!this.done) {
      await this.fill();
      if (this.decode()) return;
    }
    this.head = undefined;
  }

  private decode(): boolean {
    const left = this.buf.length - this.at;
    if (left < 4) return false;
    const length = this.buf.readUInt32LE(this.at);
    if (left < 4 + length + this.format.tail) return false;
    const at = this.at + 4 + length;
    this.head = this.format.decode(this.buf, at, this.buf.toString('latin1', this.at + 4, at));
    this.at = at + this.format.tail;
    return true;
  }

  /** Reads on: at least a buffer, and at least the whole record that begins at hand. */
  private async fill(): Promise<void> {
    const rest = this.buf.subarray(this.at);
    const need = 4 + (rest.length >= 4 ? rest.readUInt32LE(0) : 0) + this.format.tail;
    const next = Buffer.allocUnsafe(Math.max(this.readBytes, 2 * need));
    rest.copy(next);
    const { bytesRead } = await this.fh.read(next, rest.length, next.length - rest.length, this.position);
    this.position += bytesRead;
    if (bytesRead === 0) this.done = true;
    this.buf = next.subarray(0, rest.length + bytesRead);
    this.at = 0;
  }
}

/**
 * The runs at `paths` merged in `compare` order, in batches. Of entries that compare equal in several runs, the
 * latest run's is given (later runs hold later changes) and the others are passed over. Each run holds a read buffer
 * of `readBytes` while the merge goes on.
 */
export async function* mergeRuns<T>(
  paths: readonly string[],
  format: RunFormat<T>,
  compare: (a: T, b: T) => number,
  readBytes: number,
): AsyncGenerator<T[]> {
  const readers: RunReader<T>[] = [];
  try {
    for (const path of paths) readers.push(await RunReader.open(path, format, readBytes));
    let out: T[] = [];
    for (;;) {
      let min: T | undefined;
      for (const r of readers) if (r.head !== undefined && (min === undefined || compare(r.head, min) < 0)) min = r.head;
      if (min === undefined) break;
      let chosen = min;
      for (const r of readers) {
        if (r.head === undefined || compare(r.head, min) !== 0) continue;
        chosen = r.head;
        const p = r.next();
        if (p !== undefined) await p;
      }
      out.push(chosen);
      if (out.length < BATCH) continue;
      yield out;
      out = [];
    }
    if (out.length > 0) yield out;
  } finally {
    await Promise.all(readers.map((r) => r.close()));
  }
}
