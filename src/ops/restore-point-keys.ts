import { tmpdir } from 'node:os';
import type { DeltaEvent } from '../core/delta-event.js';
import { OperationError } from '../core/errors.js';
import type { KeyRecord, KeyStream } from '../core/key-record.js';
import { UNKNOWN_LEASE_TTL } from '../etcd/event-replayer.js';
import { deleteKeys, type DeleteReport } from '../etcd/key-deleter.js';
import { prefixRanges, isOpenEnd, type KeyRange } from '../etcd/key-ranges.js';
import type { DumpHeader } from '../archive/key-dump-format.js';
import { selectKey, selectsEverything, type KeySelection } from '../core/key-selection.js';
import { DEFAULT_PREFIXES, parseKey } from '../kube/index.js';
import { layoutPrefixes } from '../kube/resource-label.js';
import type { BackupRepository } from '../store/backup-repository.js';
import { keyDumpKeys, snapshotKeys } from './backup-keys.js';
import type { OpContext } from './context.js';
import { encryptionKeys } from './encryption-keys.js';
import { openBackup, type OpenedBackup } from './open-backup.js';
import { openPoint, type PointReport, type PointResolution } from './restore-point.js';
import { restoreKeys, type KeyRestoreOptions, type KeyRestoreReport } from './restore-keys.js';
import type { OpenedSegments } from './segment-events.js';
import { EntryCursor, SpilledEntries } from './change-index.js';
import { spillAreaIn } from './spill-area.js';

export interface PointKeysReport extends KeyRestoreReport {
  point: PointReport;
  /** Keys the recorded changes deleted by the target: deleted from the etcd (or, dry run, that would be). */
  deletes: DeleteReport;
}

/**
 * Restores a key dump (or a snapshot's live keys, `--keys`) and its recorded changes up to a revision into the etcd
 * at RS_ETCD_ENDPOINTS, through the key restore's planner (filters, --dry-run, --skip-existing, the plan): the keys
 * written are the state at the target (a base key a change touched is replaced by its last change; keys created by
 * changes are added), then the keys whose last change is a delete are deleted from the etcd. A key dump holds the
 * state at exactly its revision, and a snapshot's keys are read at its manifest's revision, so the changes after it
 * apply. Memory holds at most CHANGES_IN_MEMORY small entries about the keys the changes touch (no values); past that
 * they go to sorted runs in the work area (see change-index.ts).
 */
export async function restorePointKeys(ctx: OpContext, repo: BackupRepository, r: PointResolution, asked: string, opts: KeyRestoreOptions): Promise<PointKeysReport> {
  const base = r.chain.base;
  const keys = await encryptionKeys(ctx.config, { forReading: true });
  const backup = await openBackup(repo, base.manifest, keys, ctx.signal, { purpose: 'restore', checkTrailer: false, log: ctx.log });
  let segments: OpenedSegments | undefined;
  const index = changeIndex(repo.workDir ?? tmpdir());
  try {
    const stream = await baseKeys(ctx, backup, base.revision);
    const point = await openPoint(repo, r, keys, ctx.signal, ctx.log.child({ component: 'restore', backupId: base.id }));
    segments = point.segments;
    const from = stream.header.revision;
    const ranges = prefixRanges(stream.header.prefixes);
    const keep = keptBy(ranges, (stream.header as Partial<DumpHeader>).selection, stream.header.prefixes);
    const { events, observedAt } = await indexChanges(segments.events(from, point.revision), keep, index);
    const combined = pointStream(stream, segments, index, { from, to: point.revision, ranges });
    const report = await restoreKeys(ctx, base.id, combined, opts);
    const deletes = await deleteKeys(ctx.config, deletedKeys(index.finals), { dryRun: opts.dryRun, prefixes: stream.header.prefixes, log: ctx.log, signal: ctx.signal });
    const target = { asked, revision: point.revision, ...(observedAt !== undefined && { observedAt }) };
    return { ...report, point: { target, base: { id: base.id, revision: base.revision, restoredRevision: from }, segments: r.segments.map((s) => s.id), events }, deletes };
  } finally {
    await index.close();
    await segments?.remove();
    await backup.close();
  }
}

/** The base's keys: a key dump's, or a snapshot's live keys at its manifest's revision under RS_KUBE_PREFIXES. */
async function baseKeys(ctx: OpContext, backup: OpenedBackup, revision: number): Promise<KeyStream> {
  if (backup.kind === 'key dump') {
    const dump = await keyDumpKeys(backup);
    if (dump.header.apiVersion !== 'v3') throw new OperationError(`backup ${backup.manifest.id} holds v2 keys; recorded changes are of the v3 API`);
    return dump;
  }
  if (backup.kind !== 'snapshot') throw new OperationError(`backup ${backup.manifest.id} is a ${backup.manifest.strategy} listing, which cannot be restored`);
  const prefixes = ctx.config.selection.prefixes.length > 0 ? ctx.config.selection.prefixes : [...DEFAULT_PREFIXES];
  return snapshotKeys(backup, { prefixes, leaseTtls: true, revision });
}

/**
 * Changed keys held in memory before they go to disk (see change-index.ts): ~150 bytes each. `onClose` sees each
 * index's numbers as the restore ends (tests: a restore of many changes holds at most this many at once).
 */
export const changeIndexTuning: { inMemory: number; onClose?: (index: ChangeIndex) => void } = { inMemory: 100_000 };

/** Each changed key's last change (by key), and the last changes that are puts (by revision). */
interface ChangeIndex {
  finals: SpilledEntries;
  puts: SpilledEntries;
  close(): Promise<void>;
}

function changeIndex(workDir: string): ChangeIndex {
  const area = spillAreaIn(workDir);
  const finals = new SpilledEntries('key', changeIndexTuning.inMemory, area);
  const puts = new SpilledEntries('revision', changeIndexTuning.inMemory, area);
  const index: ChangeIndex = {
    finals,
    puts,
    async close() {
      changeIndexTuning.onClose?.(index);
      await Promise.all([finals.close(), puts.close()]);
    },
  };
  return index;
}

/**
 * One pass over the changes: each changed key's last change (and how many changes there are, and the last's time);
 * then the last changes that are puts, by revision, for the passes that write them.
 */
async function indexChanges(changes: AsyncIterable<DeltaEvent>, keep: (key: Buffer) => boolean, index: ChangeIndex): Promise<{ events: number; observedAt?: string }> {
  let events = 0;
  let last: number | undefined;
  for await (const e of changes) {
    events++;
    last = e.observedAt;
    if (!keep(e.key)) continue;
    const spilled = index.finals.add({ name: e.key.toString('latin1'), revision: e.modRevision, deleted: e.type === 'delete' });
    if (spilled !== undefined) await spilled;
  }
  for await (const batch of index.finals.sortedBatches()) {
    for (const f of batch) {
      if (f.deleted) continue;
      const spilled = index.puts.add(f);
      if (spilled !== undefined) await spilled;
    }
  }
  return { events, ...(last !== undefined && { observedAt: new Date(last).toISOString() }) };
}

async function* deletedKeys(finals: SpilledEntries): AsyncGenerator<Buffer> {
  for await (const batch of finals.sortedBatches()) for (const f of batch) if (f.deleted) yield Buffer.from(f.name, 'latin1');
}

/** An answer now, or once the walk behind it has read on. */
type Answer = boolean | Promise<boolean>;

/**
 * Whether base keys are keys a change touched: one walk along the changed keys in key order, side by side with the
 * base's (in key order: a v3 key dump's, a snapshot's). A key before the one asked last (a dump of prefixes whose
 * ranges are not in key order, `/a` and `/a-b`) starts the walk again. Awaits only between batches of the walk.
 */
function touchedKeys(finals: SpilledEntries): { touched: (key: Buffer) => Answer; close: () => Promise<void> } {
  let cursor: EntryCursor | undefined;
  let previous = '';
  const along = (name: string): Answer => {
    while (cursor!.head !== undefined && cursor!.head.name < name) {
      const more = cursor!.next();
      if (more !== undefined) return more.then(() => along(name));
    }
    return cursor!.head?.name === name;
  };
  const restart = async (name: string): Promise<boolean> => {
    await cursor?.close();
    cursor = await EntryCursor.open(finals);
    return along(name);
  };
  const touched = (key: Buffer): Answer => {
    const name = key.toString('latin1');
    const back = name < previous;
    previous = name;
    return cursor === undefined || back ? restart(name) : along(name);
  };
  return { touched, close: async () => cursor?.close() };
}

/** Whether a put, asked in revision order, is its key's last change: one walk along the last puts by revision. */
function lastPuts(puts: SpilledEntries): { isLast: (e: DeltaEvent) => Answer; close: () => Promise<void> } {
  let cursor: EntryCursor | undefined;
  let revision = -1;
  // The keys one revision (a transaction) put last.
  const names = new Set<string>();
  const collect = (): Promise<void> | undefined => {
    for (const c = cursor!; c.head !== undefined && c.head.revision <= revision; ) {
      if (c.head.revision === revision) names.add(c.head.name);
      const more = c.next();
      if (more !== undefined) return more.then(collect);
    }
    return undefined;
  };
  const isLast = (e: DeltaEvent): Answer => {
    const name = e.key.toString('latin1');
    if (e.modRevision === revision) return names.has(name);
    revision = e.modRevision;
    names.clear();
    const opened = cursor === undefined ? EntryCursor.open(puts).then((c) => void (cursor = c)) : undefined;
    const done = opened !== undefined ? opened.then(collect) : collect();
    return done === undefined ? names.has(name) : done.then(() => names.has(name));
  };
  return { isLast, close: async () => cursor?.close() };
}

/** Recorded changes handed to the restore at a time when the base comes in batches. */
const CHANGE_BATCH = 256;

/**
 * The state at the target as a KeyStream: the base's keys that no change touched, then each key's last change when it
 * is a put. Every pass reads the base, the segments and the index again. In batches when the base has them (a key
 * dump): the restore then awaits a batch rather than each key, and makes that much less garbage per key.
 */
function pointStream(base: KeyStream, segments: OpenedSegments, index: ChangeIndex, p: { from: number; to: number; ranges: readonly KeyRange[] }): KeyStream {
  async function* changes(): AsyncGenerator<KeyRecord> {
    const last = lastPuts(index.puts);
    try {
      for await (const e of segments.events(p.from, p.to)) {
        if (e.type !== 'put') continue;
        const a = last.isLast(e);
        if (a === true || (a !== false && (await a))) yield recordOf(e);
      }
    } finally {
      await last.close();
    }
  }
  async function* records(): AsyncGenerator<KeyRecord> {
    const walk = touchedKeys(index.finals);
    try {
      for await (const record of base.records()) {
        const a = walk.touched(record.key);
        if (a === false || (a !== true && !(await a))) yield record;
      }
    } finally {
      await walk.close();
    }
    yield* changes();
  }
  async function* recordBatches(baseBatches: () => AsyncIterable<readonly KeyRecord[]>): AsyncGenerator<readonly KeyRecord[]> {
    const walk = touchedKeys(index.finals);
    try {
      for await (const batch of baseBatches()) {
        const kept: KeyRecord[] = [];
        for (const record of batch) {
          const a = walk.touched(record.key);
          if (a === false || (a !== true && !(await a))) kept.push(record);
        }
        if (kept.length > 0) yield kept;
      }
    } finally {
      await walk.close();
    }
    let batch: KeyRecord[] = [];
    for await (const record of changes()) {
      batch.push(record);
      if (batch.length < CHANGE_BATCH) continue;
      yield batch;
      batch = [];
    }
    if (batch.length > 0) yield batch;
  }
  const batched = base.recordBatches?.bind(base);
  return { header: { ...base.header, revision: p.to }, records, ...(batched && { recordBatches: () => recordBatches(batched) }) };
}

/**
 * A recorded put as a key to restore. A leased key gets a fresh lease of what its lease had left when the change was
 * seen (as a key dump's keys do), else of its granted TTL, else UNKNOWN_LEASE_TTL: never a permanent key. One whose
 * lease had run out (ttl 0) is skipped as expired by the planner.
 */
function recordOf(e: DeltaEvent): KeyRecord {
  const r: KeyRecord = { key: e.key, value: e.value, createRevision: e.createRevision, modRevision: e.modRevision, version: e.version };
  if (e.lease === undefined) return r;
  return { ...r, lease: e.lease, ttl: e.ttl ?? e.grantedTtl ?? UNKNOWN_LEASE_TTL };
}

/**
 * The changed keys the restore takes: those under the base's prefixes and, for a filtered key dump (`filter:`, a dump
 * taken with RS_INCLUDE_NAMESPACES...), those its filters selected, judged as the dump judged its keys. The chain
 * records every key under the prefixes; a filtered base restores the state of what it holds at the target, not the
 * last change of a Pod beside Secrets it never held.
 */
function keptBy(ranges: readonly KeyRange[], selection: KeySelection | undefined, prefixes: readonly string[]): (key: Buffer) => boolean {
  if (selection === undefined || selectsEverything(selection)) return (key) => inRanges(key, ranges);
  const layout = layoutPrefixes(prefixes, DEFAULT_PREFIXES);
  return (key) => inRanges(key, ranges) && selectKey(parseKey(key, layout), selection);
}

function inRanges(key: Buffer, ranges: readonly KeyRange[]): boolean {
  return ranges.some((r) => (r.prefix === '/' ? true : Buffer.compare(key, r.start) >= 0 && (isOpenEnd(r.end) || Buffer.compare(key, r.end) < 0)));
}
