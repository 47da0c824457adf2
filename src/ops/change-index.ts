import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { SpillArea } from '../snapshot/index.js';

/** Where a changed key ended at the target: the revision of its last change, and whether that was a delete. */
export interface KeyFinal {
  /** The key as a latin1 string (its bytes, one char each: compared as strings, they sort in etcd's byte order). */
  name: string;
  revision: number;
  deleted: boolean;
}

/**
 * `key`: by name, a name added again replacing the one before (a key's last change wins); `revision`: by revision,
 * then name, every entry kept.
 */
export type SpillOrder = 'key' | 'revision';

/** A run's record: name length (u32), the name, revision (f64), deleted (u8). */
const FIXED = 4 + 8 + 1;
const WRITE_BYTES = 1 << 20;
/** Read buffer of each run in a merge: a merge of many runs holds one of these per run. */
const READ_BYTES = 64 * 1024;
/** Entries given at a time (see EntryCursor). */
const BATCH = 1024;

const byRevision = (a: KeyFinal, b: KeyFinal): number => a.revision - b.revision || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
const byName = (a: KeyFinal, b: KeyFinal): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/**
 * Entries about changed keys, given back sorted, as many times as asked. Up to `inMemory` entries are held; past that
 * they go to sorted runs on disk (in the spill area, made on first need), merged as they are read: memory stays flat
 * whatever the number of changes (a restore of 300k changed keys held them all: ~150 MB of heap). As
 * snapshot/key-spill.ts does for a snapshot's keys.
 */
export class SpilledEntries {
  /** The most entries held in memory at once. */
  peak = 0;
  private byKey = new Map<string, KeyFinal>();
  private list: KeyFinal[] = [];
  private sortedHeld: KeyFinal[] | undefined;
  private readonly runs: string[] = [];
  private area: SpillArea | undefined;

  constructor(
    private readonly order: SpillOrder,
    private readonly inMemory: number,
    private readonly spillArea: () => Promise<SpillArea>,
  ) {}

  /** Runs written to disk so far. */
  get runCount(): number {
    return this.runs.length;
  }

  private get held(): number {
    return this.order === 'key' ? this.byKey.size : this.list.length;
  }

  /** Adds an entry; a promise only when the entries held were written to disk as a run. */
  add(entry: KeyFinal): Promise<void> | undefined {
    this.sortedHeld = undefined;
    if (this.order === 'key') this.byKey.set(entry.name, entry);
    else this.list.push(entry);
    if (this.held > this.peak) this.peak = this.held;
    return this.held >= this.inMemory ? this.spill() : undefined;
  }

  /** Every entry, in order, in batches; each call reads them again. */
  async *sortedBatches(): AsyncGenerator<KeyFinal[]> {
    if (this.runs.length === 0) {
      const all = this.heldSorted();
      for (let i = 0; i < all.length; i += BATCH) yield all.slice(i, i + BATCH);
      return;
    }
    if (this.held > 0) await this.spill();
    yield* mergeRuns(this.runs, this.order);
  }

  /** Every entry, in order; each call reads them again. */
  async *sorted(): AsyncGenerator<KeyFinal> {
    for await (const batch of this.sortedBatches()) yield* batch;
  }

  /** Removes the runs (the restore is over). */
  async close(): Promise<void> {
    this.byKey = new Map();
    this.list = [];
    this.sortedHeld = undefined;
    await this.area?.remove();
  }

  /** The entries held, sorted once for every pass that reads them. */
  private heldSorted(): KeyFinal[] {
    this.sortedHeld ??= this.order === 'key' ? [...this.byKey.values()].sort(byName) : this.list.sort(byRevision);
    return this.sortedHeld;
  }

  private async spill(): Promise<void> {
    this.area ??= await this.spillArea();
    const path = join(this.area.dir, `changes-${this.runs.length}`);
    const entries = this.heldSorted();
    this.byKey = new Map();
    this.list = [];
    this.sortedHeld = undefined;
    const fh = await open(path, 'wx', 0o600);
    try {
      let buf = Buffer.allocUnsafe(WRITE_BYTES);
      let at = 0;
      for (const e of entries) {
        const need = 4 + e.name.length + FIXED;
        if (at + need > buf.length) {
          await fh.write(buf, 0, at);
          at = 0;
          if (need > buf.length) buf = Buffer.allocUnsafe(need);
        }
        buf.writeUInt32LE(e.name.length, at);
        at += 4 + buf.write(e.name, at + 4, 'latin1');
        buf.writeDoubleLE(e.revision, at);
        buf[at + 8] = e.deleted ? 1 : 0;
        at += FIXED - 4;
      }
      await fh.write(buf, 0, at);
    } finally {
      await fh.close();
    }
    this.runs.push(path);
  }
}

/**
 * A walk along sorted entries: `head` is the entry at hand (undefined past the last); `next()` gives a promise only
 * between batches, so that a walk side by side with another costs no await per entry.
 */
export class EntryCursor {
  head: KeyFinal | undefined;
  private batch: KeyFinal[] = [];
  private at = 0;

  private constructor(private readonly batches: AsyncGenerator<KeyFinal[]>) {}

  static async open(entries: SpilledEntries): Promise<EntryCursor> {
    const c = new EntryCursor(entries.sortedBatches());
    await c.next();
    return c;
  }

  next(): Promise<void> | undefined {
    if (this.at < this.batch.length) {
      this.head = this.batch[this.at++];
      return undefined;
    }
    return this.refill();
  }

  async close(): Promise<void> {
    await this.batches.return(undefined);
  }

  private async refill(): Promise<void> {
    for (;;) {
      const r = await this.batches.next();
      if (r.done) {
        this.head = undefined;
        return;
      }
      if (r.value.length === 0) continue;
      this.batch = r.value;
      this.at = 1;
      this.head = r.value[0];
      return;
    }
  }
}

/** A run read in order, a buffer at a time. */
class RunReader {
  private buf = Buffer.alloc(0);
  private at = 0;
  private position = 0;
  private done = false;
  /** The record at hand: undefined once the run is read. */
  head: KeyFinal | undefined;

  private constructor(private readonly fh: FileHandle) {}

  static async open(path: string): Promise<RunReader> {
    const r = new RunReader(await open(path, 'r'));
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
    if (left < length + FIXED) return false;
    const at = this.at + 4 + length;
    this.head = { name: this.buf.toString('latin1', this.at + 4, at), revision: this.buf.readDoubleLE(at), deleted: this.buf[at + 8] === 1 };
    this.at = at + FIXED - 4;
    return true;
  }

  /** Reads on: at least a buffer, and at least the whole record that begins at hand. */
  private async fill(): Promise<void> {
    const rest = this.buf.subarray(this.at);
    const need = rest.length >= 4 ? rest.readUInt32LE(0) + FIXED : FIXED;
    const next = Buffer.allocUnsafe(Math.max(READ_BYTES, 2 * need));
    rest.copy(next);
    const { bytesRead } = await this.fh.read(next, rest.length, next.length - rest.length, this.position);
    this.position += bytesRead;
    if (bytesRead === 0) this.done = true;
    this.buf = next.subarray(0, rest.length + bytesRead);
    this.at = 0;
  }
}

/** The runs merged in order, in batches; in `key` order, of a name in several runs the latest run's entry counts. */
async function* mergeRuns(paths: readonly string[], order: SpillOrder): AsyncGenerator<KeyFinal[]> {
  const compare = order === 'key' ? byName : byRevision;
  const readers: RunReader[] = [];
  try {
    for (const path of paths) readers.push(await RunReader.open(path));
    let out: KeyFinal[] = [];
    for (;;) {
      let min: KeyFinal | undefined;
      for (const r of readers) if (r.head !== undefined && (min === undefined || compare(r.head, min) < 0)) min = r.head;
      if (min === undefined) break;
      let chosen = min;
      // Later runs hold later changes; in revision order no entry is in two runs, so only one reader moves.
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
