import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KeyLocations } from './key-locations.js';

/**
 * A fresh private folder a walk of keys writes its sorted runs into, and `remove`s when the walk ends (done, failed or
 * abandoned). The reader's opener gives one in the work area (RS_TMP_DIR); by default a folder in the system's.
 */
export interface SpillArea {
  dir: string;
  remove(): Promise<void>;
}

/** Where a key's newest revision lives (see KeyLocations): its name is the user key as a latin1 string. */
export interface KeyLocation {
  name: string;
  pgid: number;
  index: number;
  span: number;
  valueSize: number;
}

/** A run's record: name length, then pgid (f64), index (u16), span (u32), value size (u32), deleted (u8). */
const FIXED = 4 + 8 + 2 + 4 + 4 + 1;
const IO_BYTES = 1 << 20;

async function defaultSpillArea(): Promise<SpillArea> {
  const dir = await mkdtemp(join(tmpdir(), 'reshifter-keys-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * The newest location of every live key, found in revision order, given back in key order. Up to `keysInMemory`
 * keys are held in memory (~130 bytes each); past that they go to sorted runs on disk, merged at the end, so memory
 * stays bounded whatever the number of keys (a million keys held at once took ~150 MB of heap). A key deleted in a
 * later run than the one that holds it is kept as a deletion until the merge drops both.
 */
export class SpillingLocations {
  private chunk = new KeyLocations();
  /** Keys deleted since the last run was written, which an earlier run may hold live. */
  private deleted = new Set<string>();
  private readonly runs: string[] = [];
  private area: SpillArea | undefined;

  constructor(
    private readonly keysInMemory: number,
    private readonly spillArea: (() => Promise<SpillArea>) | undefined,
  ) {}

  async set(name: string, pgid: number, index: number, span: number, valueSize: number): Promise<void> {
    this.deleted.delete(name);
    this.chunk.set(name, pgid, index, span, valueSize);
    if (this.chunk.size + this.deleted.size >= this.keysInMemory) await this.spill();
  }

  async delete(name: string): Promise<void> {
    this.chunk.delete(name);
    if (this.runs.length === 0) return;
    this.deleted.add(name);
    if (this.chunk.size + this.deleted.size >= this.keysInMemory) await this.spill();
  }

  /** The live keys' locations in key order (byte order). */
  async *sorted(): AsyncGenerator<KeyLocation> {
    if (this.runs.length === 0) {
      for (const name of this.chunk.sortedNames()) yield locationOf(this.chunk, name);
      return;
    }
    if (this.chunk.size + this.deleted.size > 0) await this.spill();
    yield* mergeRuns(this.runs);
  }

  /** Removes the runs written (the walk is over). */
  async close(): Promise<void> {
    this.chunk = new KeyLocations();
    this.deleted.clear();
    await this.area?.remove();
  }

  /** Writes the keys held (live and deleted) as one sorted run, and starts afresh. */
  private async spill(): Promise<void> {
    this.area ??= await (this.spillArea ?? defaultSpillArea)();
    const path = join(this.area.dir, `run-${this.runs.length}`);
    this.runs.push(path);
    const names = [...this.chunk.sortedNames(), ...this.deleted].sort();
    const fh = await open(path, 'wx', 0o600);
    try {
      let buf = Buffer.allocUnsafe(IO_BYTES);
      let at = 0;
      for (const name of names) {
        const need = 4 + name.length + FIXED;
        if (at + need > buf.length) {
          await fh.write(buf, 0, at);
          at = 0;
          if (need > buf.length) buf = Buffer.allocUnsafe(need);
        }
        at = writeRecord(buf, at, name, this.deleted.has(name) ? undefined : locationOf(this.chunk, name));
      }
      await fh.write(buf, 0, at);
    } finally {
      await fh.close();
    }
    this.chunk = new KeyLocations();
    this.deleted.clear();
  }
}

function locationOf(locations: KeyLocations, name: string): KeyLocation {
  const slot = locations.slotOf(name);
  return { name, pgid: locations.pgid(slot), index: locations.index(slot), span: locations.span(slot), valueSize: locations.valueSize(slot) };
}

/** Writes one record at `at` (a deletion when `loc` is undefined); returns where the next one goes. */
function writeRecord(buf: Buffer, at: number, name: string, loc: KeyLocation | undefined): number {
  buf.writeUInt32LE(name.length, at);
  at += 4 + buf.write(name, at + 4, 'latin1');
  buf.writeDoubleLE(loc?.pgid ?? 0, at);
  buf.writeUInt16LE(loc?.index ?? 0, at + 8);
  buf.writeUInt32LE(loc?.span ?? 0, at + 10);
  buf.writeUInt32LE(loc?.valueSize ?? 0, at + 14);
  buf.writeUInt8(loc === undefined ? 1 : 0, at + 18);
  return at + FIXED - 4;
}

/** A run read in order, a buffer at a time. */
class RunReader {
  private buf = Buffer.alloc(0);
  private at = 0;
  private position = 0;
  private done = false;
  /** The record at hand: undefined once the run is read. */
  head: (KeyLocation & { deleted: boolean }) | undefined;

  private constructor(private readonly fh: FileHandle) {}

  static async open(path: string): Promise<RunReader> {
    const r = new RunReader(await open(path, 'r'));
    await r.next();
    return r;
  }

  /** Moves to the next record. */
  async next(): Promise<void> {
    if (!(await this.have(4))) return this.end();
    const length = this.buf.readUInt32LE(this.at);
    if (!(await this.have(4 + length + FIXED - 4))) return this.end();
    const b = this.buf;
    const at = this.at + 4 + length;
    const name = b.toString('latin1', this.at + 4, at);
    this.head = { name, pgid: b.readDoubleLE(at), index: b.readUInt16LE(at + 8), span: b.readUInt32LE(at + 10), valueSize: b.readUInt32LE(at + 14), deleted: b[at + 18] === 1 };
    this.at = at + FIXED - 4;
  }

  close(): Promise<void> {
    return this.fh.close();
  }

  private async end(): Promise<void> {
    this.head = undefined;
  }

  /** Whether `n` bytes are at hand, reading more when not. */
  private async have(n: number): Promise<boolean> {
    if (this.buf.length - this.at >= n) return true;
    if (this.done) return false;
    const rest = this.buf.subarray(this.at);
    const next = Buffer.allocUnsafe(Math.max(IO_BYTES, n));
    rest.copy(next);
    const { bytesRead } = await this.fh.read(next, rest.length, next.length - rest.length, this.position);
    this.position += bytesRead;
    if (bytesRead === 0) this.done = true;
    this.buf = next.subarray(0, rest.length + bytesRead);
    this.at = 0;
    return this.buf.length >= n;
  }
}

/** The runs merged in key order: of a key in several runs the latest run's record counts; deletions are dropped. */
async function* mergeRuns(paths: string[]): AsyncGenerator<KeyLocation> {
  const readers: RunReader[] = [];
  try {
    for (const path of paths) readers.push(await RunReader.open(path));
    for (;;) {
      let min: string | undefined;
      for (const r of readers) if (r.head !== undefined && (min === undefined || r.head.name < min)) min = r.head.name;
      if (min === undefined) return;
      let newest: (KeyLocation & { deleted: boolean }) | undefined;
      // Later runs hold later revisions.
      for (const r of readers) {
        if (r.head?.name !== min) continue;
        newest = r.head;
        await r.next();
      }
      if (newest !== undefined && !newest.deleted) {
        const { name, pgid, index, span, valueSize } = newest;
        yield { name, pgid, index, span, valueSize };
      }
    }
  } finally {
    await Promise.all(readers.map((r) => r.close()));
  }
}
