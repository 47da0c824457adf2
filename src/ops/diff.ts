import { stat } from 'node:fs/promises';
import type { Manifest } from '../archive/manifest.js';
import { describeBackup, kindOf } from '../core/backup-kind.js';
import { diffKeys, sharedPrefixes, type DiffResult } from '../core/diff.js';
import { AbortedError, OperationError, abortedBySignal, describeError } from '../core/errors.js';
import { printable } from '../core/printable.js';
import { selectKey, type KeySelection } from '../core/key-selection.js';
import type { KeyRecord } from '../core/key-record.js';
import { DEFAULT_PREFIXES, parseKey } from '../kube/index.js';
import { layoutPrefixes } from '../kube/resource-label.js';
import { reportProgress } from '../progress.js';
import type { CodecKeys } from '../archive/codec.js';
import type { BackupRepository } from '../store/backup-repository.js';
import { keyDumpKeys, snapshotFileKeys, snapshotKeys } from './backup-keys.js';
import type { OpContext } from './context.js';
import { encryptionKeys } from './encryption-keys.js';
import { openBackup } from './open-backup.js';
import { openSnapshotInput } from './open-snapshot.js';

/** Which backup a diff side is; a snapshot file's is its path, the time it was last written, strategy `snapshot`. */
export interface BackupRef {
  id: string;
  createdAt: string;
  strategy: string;
}

/** A side of a diff as given: a backup of the store (its manifest), or a snapshot file on this machine. */
export type DiffTarget = Manifest | { file: string };

export interface BackupDiff extends DiffResult {
  from: BackupRef;
  to: BackupRef;
  /**
   * When a key dump is one side: the prefixes whose keys were compared, those both backups hold (a key dump holds
   * only the prefixes it was taken under, a snapshot every key). The keys outside are counted in `summary.outside`.
   */
  scope?: string[];
  /**
   * The backups that hold only the resources and namespaces their filters selected (`filter:` dumps, dumps taken
   * with RS_INCLUDE_NAMESPACES...): only the keys both backups can hold were compared, the others are `outside`.
   */
  filtered?: string[];
  /**
   * When one side holds etcd's v2 keyspace and the other its v3 one: etcd keeps the two apart, so keys are compared by
   * name across them (as after `etcdctl migrate`), and a key of one alone is `added` or `removed`.
   */
  keyspaces?: { from: 'v2' | 'v3'; to: 'v2' | 'v3' };
}

/**
 * One side of a diff: which it is, its keys in etcd's key order, the prefixes it covered (key dumps; none: every
 * key), whether it holds a key its filters would have left out (a filtered key dump), its cleanup.
 */
interface DiffSide {
  ref: BackupRef;
  keys: AsyncIterable<KeyRecord>;
  prefixes?: string[];
  holds?: (key: Buffer) => boolean;
  /** The filters `holds` judges by (a filtered key dump's manifest selection). */
  selection?: KeySelection;
  /** A snapshot's: the revisions the pass that finds its live keys has gone through (reported as `scanned`). */
  scanned?: () => number;
  /** The keyspace it holds: v3 for snapshots, a key dump's API. */
  api: 'v2' | 'v3';
  close(): Promise<void>;
}

/**
 * What changed between two backups (snapshots and key dumps alike): each is checked against its manifest and read
 * key by key from a private temporary copy, and the two sorted key streams are merged. Like for like: only the keys
 * under the prefixes both hold are compared (a snapshot's keys beyond a raw dump's `/registry`, such as another
 * application's, are counted apart as outside). Temporary files are removed whatever happens.
 */
export async function diffBackups(ctx: OpContext, repo: BackupRepository, from: Manifest, to: Manifest, opts: { limit?: number } = {}): Promise<BackupDiff> {
  return diffTargets(ctx, repo, from, to, opts);
}

/**
 * As diffBackups, with a snapshot file on this machine (etcdctl's, k3s's; gzip, zstd, age or zip decoded in the work
 * area) on either side, read as a snapshot backup is: every live key, its sha256 trailer checked first (a file that
 * fails it is refused). `repo` is needed only for a backup side.
 */
export async function diffTargets(ctx: OpContext, repo: BackupRepository | undefined, from: DiffTarget, to: DiffTarget, opts: { limit?: number } = {}): Promise<BackupDiff> {
  const keys = await encryptionKeys(ctx.config, { forReading: true });
  const open = (t: DiffTarget) => ('file' in t ? openFileSide(ctx, t.file) : openSide(repoFor(repo, t), t, keys, ctx));
  try {
    const a = await open(from);
    try {
      const b = await open(to);
      try {
        return await compareSides(ctx, a, b, opts);
      } finally {
        await b.close();
      }
    } finally {
      await a.close();
    }
  } catch (err) {
    throw stoppedDiff(ctx.signal, from, to, err) ?? err;
  }
}

/**
 * A diff stopped by a signal, said in one form whichever phase it was in (the download or decoding of either side,
 * a snapshot's status, the comparison), as other commands say theirs: `diff of <from> and <to> stopped: received
 * SIGINT`. Before, a stop while a side was read named that side alone (`diff of backup <id> stopped`). Undefined for
 * any other error.
 */
function stoppedDiff(signal: AbortSignal, from: DiffTarget, to: DiffTarget, err: unknown): AbortedError | undefined {
  if (!signal.aborted || !(err instanceof AbortedError || abortedBySignal(err, 'diff') !== undefined)) return undefined;
  const name = (t: DiffTarget) => printable('file' in t ? t.file : t.id);
  return new AbortedError(`diff of ${name(from)} and ${name(to)} stopped: ${describeError(signal.reason)}`, { cause: err });
}

function repoFor(repo: BackupRepository | undefined, m: Manifest): BackupRepository {
  if (repo === undefined) throw new OperationError(`backup ${m.id}: no store to read it from`);
  return repo;
}

/** Merges the two sides' sorted key streams (see diffKeys), like for like. */
async function compareSides(ctx: OpContext, a: DiffSide, b: DiffSide, opts: { limit?: number }): Promise<BackupDiff> {
  const { config, signal } = ctx;
  const [from, to] = [a.ref, b.ref];
  const known = [...new Set([...config.selection.prefixes, ...(a.prefixes ?? []), ...(b.prefixes ?? [])])];
  const prefixes = known.length > 0 ? layoutPrefixes(known, DEFAULT_PREFIXES) : DEFAULT_PREFIXES;
  const scope = sharedPrefixes(a.prefixes, b.prefixes);
  // Two dumps taken with the same filters (the hourly filter:secrets,configmaps an hour apart) can hold the same keys:
  // nothing of either was left out of the comparison, and no note says they hold different ones.
  const alike = a.selection !== undefined && b.selection !== undefined && sameSelection(a.selection, b.selection);
  const filtered = alike ? [] : [...(a.holds ? [from.id] : []), ...(b.holds && to.id !== from.id ? [to.id] : [])];
  const holds = [a.holds, b.holds].filter((h) => h !== undefined);
  const read = { keys: 0, bytes: 0 };
  // A snapshot side finds its live keys in a pass over every revision before its first key: said as `scanned`.
  const scans = [a.scanned, b.scanned].filter((x) => x !== undefined);
  const stopProgress = reportProgress(ctx.log, 'diff', () => ({ ...read, ...(scans.length > 0 && { scanned: scans.reduce((n, scanned) => n + scanned(), 0) }) }));
  const result = await diffKeys(counted(a.keys, read), counted(b.keys, read), {
    prefixes,
    ...(scope !== undefined && { scope }),
    ...(holds.length > 0 && { bothHold: (key: Buffer) => holds.every((h) => h(key)) }),
    ...(opts.limit !== undefined && { limit: opts.limit }),
    signal,
  })
    .finally(stopProgress);
  const keyspaces = a.api !== b.api ? { keyspaces: { from: a.api, to: b.api } } : {};
  ctx.log.info({ from: from.id, to: to.id, ...result.summary, ...(scope !== undefined && { scope }), ...(filtered.length > 0 && { filtered }), ...keyspaces }, 'backups compared');
  return { from, to, ...(scope !== undefined && { scope }), ...(filtered.length > 0 && { filtered }), ...keyspaces, ...result };
}

/**
 * A snapshot file's side: every live key, as a snapshot backup's, in key order (the reader finds each key's newest
 * revision in one pass over etcd's key bucket, which is in revision order, holding keys and locations but no values,
 * then reads the values back in key order). A file whose sha256 trailer does not match its data is refused.
 */
async function openFileSide(ctx: OpContext, path: string): Promise<DiffSide> {
  const input = await openSnapshotInput(ctx, path, undefined, 'diff');
  try {
    const stream = await snapshotFileKeys(ctx, input, { refuseDamaged: 'compared', everyKey: true });
    const written = await stat(path).then((s) => s.mtime.toISOString());
    return { ref: { id: path, createdAt: written, strategy: 'snapshot' }, keys: stream.records(), api: 'v3', ...(stream.scanned && { scanned: stream.scanned }), close: () => input.close() };
  } catch (err) {
    await input.close();
    throw err;
  }
}

/**
 * Opens one side: a snapshot's every live key (read offline), or a key dump's keys. v3 dumps are paged ranges, in
 * key order already; a v2 walk goes directory by directory, which is not byte order, so its (small, v2-era) keys are
 * sorted in memory. A render listing holds no values to compare.
 */
async function openSide(repo: BackupRepository, m: Manifest, keys: CodecKeys, ctx: Pick<OpContext, 'signal' | 'log'>): Promise<DiffSide> {
  const kind = kindOf(m.contentType);
  if (kind !== 'snapshot' && kind !== 'key dump') {
    throw new OperationError(`backup ${m.id} is a ${describeBackup(m)}, which holds no keys with values: only snapshots and key dumps can be read key by key`);
  }
  const backup = await openBackup(repo, m, keys, ctx.signal, { purpose: 'diff', log: ctx.log });
  try {
    if (backup.kind === 'snapshot') {
      const stream = await snapshotKeys(backup);
      return { ref: refOf(m), keys: stream.records(), api: 'v3', ...(stream.scanned && { scanned: stream.scanned }), close: () => backup.close() };
    }
    if (backup.kind !== 'key dump') throw new OperationError(`backup ${m.id} holds no keys`);
    const dump = await keyDumpKeys(backup);
    const records = dump.records();
    const selection = dump.header.selection;
    return {
      ref: refOf(m),
      keys: dump.header.apiVersion === 'v3' ? records : sortedInMemory(records),
      prefixes: dump.header.prefixes,
      api: dump.header.apiVersion,
      ...(selection !== undefined && { holds: selectedBy(selection, dump.header.prefixes), selection }),
      async close() {
        await dump.close();
        await backup.close();
      },
    };
  } catch (err) {
    await backup.close();
    throw err;
  }
}

/**
 * `keys` as they are read, counted into `read` (keys and their bytes, both sides together): a diff of two dumps of a
 * million keys reads for tens of seconds, and reports it as `diff` progress.
 */
async function* counted(keys: AsyncIterable<KeyRecord>, read: { keys: number; bytes: number }): AsyncGenerator<KeyRecord> {
  for await (const k of keys) {
    read.keys++;
    read.bytes += k.key.length + k.value.length;
    yield k;
  }
}

const refOf = (m: Manifest): BackupRef => ({ id: m.id, createdAt: m.createdAt, strategy: m.strategy });

/** Whether a dump's filters kept a key, judged as the dump judged it (with its prefixes' layout). */
function selectedBy(selection: KeySelection, prefixes: readonly string[]): (key: Buffer) => boolean {
  const layout = layoutPrefixes(prefixes, DEFAULT_PREFIXES);
  return (key) => selectKey(parseKey(key, layout), selection);
}

/** Whether two selections keep the same keys: the same lists, whatever their order. */
function sameSelection(a: KeySelection, b: KeySelection): boolean {
  const norm = (s: KeySelection) =>
    JSON.stringify([s.resourceSets.map((r) => [...r].sort()).sort(), ...[s.excludeResources, s.includeNamespaces, s.excludeNamespaces].map((l) => [...l].sort())]);
  return norm(a) === norm(b);
}

async function* sortedInMemory(keys: AsyncIterable<KeyRecord>): AsyncGenerator<KeyRecord> {
  const all: KeyRecord[] = [];
  for await (const k of keys) all.push(k);
  all.sort((a, b) => Buffer.compare(a.key, b.key));
  yield* all;
}
