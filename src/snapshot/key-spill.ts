import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { byName, mergeRuns, writeRun, type RunFormat } from '../core/sorted-runs.js';
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

/**
 * A run's record after its name (core/sorted-runs.ts): pgid (f64), index (u16), span (u32), value size (u32),
 * deleted (u8).
 */
const TAIL = 8 + 2 + 4 + 4 + 1;
const RUN_FORMAT: RunFormat<KeyLocation & { deleted: boolean }> = {
  tail: TAIL,
  decode: (b, at, name) => ({
    name,
    pgid: b.readDoubleLE(at),
    index: b.readUInt16LE(at + 8),
    span: b.readUInt32LE(at + 10),
    valueSize: b.readUInt32LE(at + 14),
    deleted: b[at + 18] === 1,
  }),
};
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
    yield* liveOfRuns(this.runs);
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
    const chunk = this.chunk;
    await writeRun(path, names, (name) => name, TAIL, (buf, at, name) =>
      encodeTail(buf, at, this.deleted.has(name) ? undefined : locationOf(chunk, name)),
    );
    this.chunk = new KeyLocations();
    this.deleted.clear();
  }
}

function locationOf(locations: KeyLocations, name: string): KeyLocation {
  const slot = locations.slotOf(name);
  return { name, pgid: locations.pgid(slot), index: locations.index(slot), span: locations.span(slot), valueSize: locations.valueSize(slot) };
}

/** Writes a record's tail at `at` (a deletion when `loc` is undefined). */
function encodeTail(buf: Buffer, at: number, loc: KeyLocation | undefined): void {
  buf.writeDoubleLE(loc?.pgid ?? 0, at);
  buf.writeUInt16LE(loc?.index ?? 0, at + 8);
  buf.writeUInt32LE(loc?.span ?? 0, at + 10);
  buf.writeUInt32LE(loc?.valueSize ?? 0, at + 14);
  buf.writeUInt8(loc === undefined ? 1 : 0, at + 18);
}

/** The live keys of the runs in key order: of a key in several runs the latest run's record counts. */
async function* liveOfRuns(paths: string[]): AsyncGenerator<KeyLocation> {
  for await (const batch of mergeRuns(paths, RUN_FORMAT, byName, IO_BYTES)) {
    for (const { deleted, ...location } of batch) if (!deleted) yield location;
  }
}
