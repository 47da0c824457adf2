import type { DumpHeader } from '../archive/key-dump-format.js';
import type { DumpItem } from '../archive/key-dump-reader.js';
import { etcdOf } from '../archive/manifest.js';
import { snapshotError } from '../archive/snapshot-error.js';
import { IntegrityError, OperationError } from '../core/errors.js';
import { printable } from '../core/printable.js';
import type { KeyRecord, KeyStream } from '../core/key-record.js';
import { normalisePrefixes, prefixRanges } from '../etcd/key-ranges.js';
import type { LiveKey, LiveKeysOptions, SnapshotReader } from '../snapshot/index.js';
import { DEFAULT_PREFIXES } from '../kube/index.js';
import type { OpContext } from './context.js';
import type { KeyDumpBackup, SnapshotBackup } from './open-backup.js';
import type { SnapshotInput } from './keys-input.js';

export interface SnapshotKeysOptions {
  /** The prefixes read (see prefixRanges: `/` is every key); every key of the snapshot when absent. */
  prefixes?: readonly string[];
  /** Give leased keys the TTL their lease was granted with (what a restore writes), reading the lease bucket first. */
  leaseTtls?: boolean;
  /** The state at this revision (it must not be compacted in the snapshot); the latest when absent. */
  revision?: number;
  /** Values valid only until the next record is asked for (see LiveKeysOptions.transientValues): `stats`. */
  transientValues?: boolean;
}

/**
 * A snapshot key as a KeyRecord. A key with a lease gets the lease's granted TTL: how much of it was left when the
 * snapshot was taken cannot be known offline, so the fresh lease runs the full TTL. A key whose lease is not in the
 * snapshot's lease bucket had as good as expired: ttl 0, which the restore planner skips as expired. Never a
 * permanent key. Without `leaseTtls` the record names its lease and carries no TTL.
 */
export function snapshotKeyRecord(kv: LiveKey, leaseTtls?: ReadonlyMap<bigint, number>): KeyRecord {
  const record: KeyRecord = { key: kv.key, value: kv.value, createRevision: kv.createRevision, modRevision: kv.modRevision, version: kv.version };
  if (kv.lease === 0n) return record;
  return { ...record, lease: kv.lease.toString(), ...(leaseTtls && { ttl: leaseTtls.get(kv.lease) ?? 0 }) };
}

/**
 * The live keys of a snapshot under `ranges` (see prefixRanges: the range `/` is every key), in key order; at
 * `revision`, by default the latest. One pass over the snapshot's key bucket finds the keys of every range: a pass per
 * range read the whole bucket once for each (three times for the default Kubernetes prefixes).
 */
export function liveKeysIn(
  reader: Pick<SnapshotReader, 'liveKeys'>,
  ranges: ReadonlyArray<{ prefix: string; start: Buffer }>,
  revision?: number,
  more: Pick<LiveKeysOptions, 'onScanned' | 'transientValues'> = {},
): AsyncIterable<LiveKey> {
  const every = ranges.some((r) => r.prefix === '/');
  return reader.liveKeys({ ...(!every && { prefixes: ranges.map((r) => r.start) }), ...(revision !== undefined && { revision }), ...more });
}

/** The keys of a snapshot backup as a KeyStream, in key order; its header is the manifest's (the v3 API). */
export async function snapshotKeys(backup: SnapshotBackup, opts: SnapshotKeysOptions = {}): Promise<KeyStream> {
  const m = backup.manifest;
  return readerKeys(await backup.reader(), `backup ${m.id}`, { etcdVersion: etcdOf(m).version, revision: etcdOf(m).revision }, opts);
}

/**
 * The keys of an open snapshot (`what` names it in errors) as a KeyStream, in key order; `at`: the etcd version and
 * revision its header gives (a snapshot file records no version: its own revision, and an empty version).
 */
export async function readerKeys(reader: SnapshotReader, what: string, at: { etcdVersion: string; revision: number }, opts: SnapshotKeysOptions = {}): Promise<KeyStream> {
  const leaseTtls = opts.leaseTtls
    ? new Map((await reader.leases().catch((err: unknown) => Promise.reject(snapshotError(err, what)))).map((l) => [l.id, l.ttl] as const))
    : undefined;
  const { prefixes, revision } = opts;
  // The revisions the current pass has gone through to find the live keys (KeyStream.scanned).
  let scanned = 0;
  const onScanned = (n: number) => (scanned = n);
  const more = { onScanned, ...(opts.transientValues && { transientValues: true }) };
  async function* records(): AsyncGenerator<KeyRecord> {
    scanned = 0;
    try {
      const keys =
        prefixes === undefined
          ? reader.liveKeys({ ...(revision !== undefined && { revision }), ...more })
          : liveKeysIn(reader, prefixRanges(prefixes), revision, more);
      for await (const kv of keys) yield snapshotKeyRecord(kv, leaseTtls);
    } catch (err) {
      throw snapshotError(err, what);
    }
  }
  // As a key dump's header and manifest name them (sorted, once each): `stats` of a snapshot and of the live etcd or a
  // dump list them alike.
  const header = { apiVersion: 'v3' as const, etcdVersion: at.etcdVersion, revision: revision ?? at.revision, prefixes: prefixes === undefined ? ['/'] : normalisePrefixes(prefixes) };
  return { header, records, scanned: () => scanned };
}

/** How a snapshot file's keys are read (snapshotFileKeys). */
export interface SnapshotFileKeysOptions {
  /** Give leased keys their lease's granted TTL (see SnapshotKeysOptions). */
  leaseTtls?: boolean;
  /** Refuse a file whose trailer does not match its data, saying it was not this (`restored`, `compared`). */
  refuseDamaged?: string;
  /** Every key of the file, as a snapshot backup's are read for a diff, rather than those under RS_KUBE_PREFIXES. */
  everyKey?: boolean;
  /** Values valid only until the next record is asked for (see LiveKeysOptions.transientValues): `stats`. */
  transientValues?: boolean;
}

/**
 * The live keys of a snapshot file open for reading, under RS_KUBE_PREFIXES (default the Kubernetes prefixes) unless
 * `everyKey`, at its own revision, in key order. Its status is read first (every page, and etcd's sha256 trailer when
 * it has one): a file whose trailer does not match its data is refused with `refuseDamaged`, else warned of.
 */
export async function snapshotFileKeys(ctx: OpContext, input: SnapshotInput, opts: SnapshotFileKeysOptions = {}): Promise<KeyStream> {
  const path = input.origin.kind === 'file' ? input.origin.path : input.reader.path;
  // Named as keys are printed: a path may hold a newline or ESC.
  const name = printable(path);
  const status = await input.reader.status().catch((err: unknown) => Promise.reject(snapshotError(err, name)));
  if (status.trailer === 'mismatch') {
    const damaged = `${name}: etcd's sha256 trailer does not match the data (the file was changed or damaged)`;
    if (opts.refuseDamaged !== undefined) throw new IntegrityError('snapshot', `${damaged}; it was not ${opts.refuseDamaged}`);
    ctx.log.warn({ file: path }, `${damaged}: the numbers are of the data as it is`);
  }
  const prefixes = ctx.config.selection.prefixes.length > 0 ? ctx.config.selection.prefixes : [...DEFAULT_PREFIXES];
  const at = { etcdVersion: '', revision: status.revision };
  return readerKeys(input.reader, name, at, {
    ...(!opts.everyKey && { prefixes }),
    ...(opts.leaseTtls && { leaseTtls: true }),
    ...(opts.transientValues && { transientValues: true }),
  });
}

/**
 * The keys of a key dump as a KeyStream, in the dump's order (etcd's key order for v3; a v2 walk goes directory by
 * directory). The header is the dump's first entry: the pass that read it goes on as the first pass over the
 * records, so taking the header costs no read of its own. `close` ends a first pass that was never used.
 */
export async function keyDumpKeys(backup: KeyDumpBackup): Promise<KeyStream & { header: DumpHeader; close(): Promise<void> }> {
  const first = backup.batches()[Symbol.asyncIterator]();
  const head = await first.next();
  const item = head.done ? undefined : head.value[0];
  if (item?.type !== 'header') {
    await first.return?.(undefined);
    throw new OperationError(`backup ${backup.manifest.id}: the key dump has no header`);
  }
  // The keys parsed with the header open the first pass.
  let firstKeys: KeyRecord[] | undefined = keysOf(head.value as DumpItem[], 1);
  let unused: AsyncIterator<unknown> | undefined = first;
  async function* recordBatches(): AsyncGenerator<KeyRecord[]> {
    const batches = unused === first ? first : backup.batches()[Symbol.asyncIterator]();
    const opening = unused === first ? firstKeys : undefined;
    unused = firstKeys = undefined;
    try {
      if (opening !== undefined && opening.length > 0) yield opening;
      for (let r = await batches.next(); !r.done; r = await batches.next()) {
        const keys = keysOf(r.value, 0);
        if (keys.length > 0) yield keys;
      }
    } finally {
      await batches.return?.(undefined);
    }
  }
  async function* records(): AsyncGenerator<KeyRecord> {
    for await (const batch of recordBatches()) yield* batch;
  }
  return {
    header: item.header,
    records,
    recordBatches,
    async close() {
      await unused?.return?.(undefined);
    },
  };
}

function keysOf(items: readonly DumpItem[], from: number): KeyRecord[] {
  const keys: KeyRecord[] = [];
  for (let i = from; i < items.length; i++) {
    const it = items[i]!;
    if (it.type === 'key') keys.push(it.record);
  }
  return keys;
}
