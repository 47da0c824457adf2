import { join } from 'node:path';
import { byName, mergeRuns, writeRun, type RunFormat } from '../core/sorted-runs.js';
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

/** A run's record after its name (core/sorted-runs.ts): revision (f64), deleted (u8). */
const TAIL = 8 + 1;
const RUN_FORMAT: RunFormat<KeyFinal> = {
  tail: TAIL,
  decode: (buf, at, name) => ({ name, revision: buf.readDoubleLE(at), deleted: buf[at + 8] === 1 }),
};
/** Read buffer of each run in a merge: a merge of many runs holds one of these per run. */
const READ_BYTES = 64 * 1024;
/** Entries given at a time (see EntryCursor). */
const BATCH = 1024;

const byRevision = (a: KeyFinal, b: KeyFinal): number => a.revision - b.revision || byName(a, b);

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
    yield* mergeRuns(this.runs, RUN_FORMAT, this.order === 'key' ? byName : byRevision, READ_BYTES);
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
    await writeRun(path, entries, (e) => e.name, TAIL, (buf, at, e) => {
      buf.writeDoubleLE(e.revision, at);
      buf[at + 8] = e.deleted ? 1 : 0;
    });
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
