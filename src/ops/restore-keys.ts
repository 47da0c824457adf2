import type { Store } from '../store/types.js';
import { openCheckedGoZip, withGoBackupFile } from './go-backup-file.js';
import { counted } from '../core/counted.js';
import type { Config } from '../config/types.js';
import type { Manifest } from '../archive/manifest.js';
import { snapshotError } from '../archive/snapshot-error.js';
import { AbortedError, IntegrityError, OperationError, describeError } from '../core/errors.js';
import type { KeyRecord, KeyStream } from '../core/key-record.js';
import { FilterMatches, filterNames, type UnmatchedFilter } from '../core/filter-matches.js';
import { ratePerSecond } from '../core/rate-meter.js';
import { buildSelection, selectKey, type KeySelection } from '../core/key-selection.js';
import { RESTORE_PHASES, RestorePasses, phaseBarrier, restorePhase, type PlanRow, type PlanTotals, type RestorePhase } from '../core/restore-plan.js';
import { KeyRestorer } from '../etcd/key-restorer.js';
import { openRestoreTarget } from '../etcd/open-restore-target.js';
import type { RestoreTarget } from '../etcd/restore-target.js';
import { EndpointsSilentError } from '../etcd/one-cluster.js';
import { withEtcd } from '../etcd/with-etcd.js';
import { formatStrategy } from '../core/strategy.js';
import { DEFAULT_PREFIXES, parseKey, type ParsedKey } from '../kube/index.js';
import { layoutPrefixes, resourceLabel } from '../kube/resource-label.js';
import type { Logger } from '../log.js';
import { reportProgress } from '../progress.js';
import type { BackupRepository } from '../store/backup-repository.js';
import { keyDumpKeys, snapshotFileKeys, snapshotKeys } from './backup-keys.js';
import type { OpContext } from './context.js';
import { encryptionKeys } from './encryption-keys.js';
import { openBackup } from './open-backup.js';
import { openSnapshotInput } from './open-snapshot.js';

export interface KeyRestoreReport {
  /** The backup's id; for a snapshot file, its path (as `file`). */
  id: string;
  /** The snapshot file restored from (`restore FILE --keys`) rather than a backup. */
  file?: string;
  dryRun: boolean;
  target: { endpoints: string[]; apiVersion: 'v2' | 'v3' };
  written: number;
  durationMs: number;
  /** Keys written per second (finite: over at least 1 ms); text output says it only over a second or more. */
  keysPerSecond: number;
  totals: PlanTotals;
  resources: PlanRow[];
  /** Filter entries that matched no key of the backup (a misspelt namespace, a resource it does not hold). */
  unmatchedFilters: UnmatchedFilter[];
  /** The settings that filtered the keys, as given (`RS_BACKUP_STRATEGY=filter:secrets`), when any is set. */
  filters?: string[];
}

/** Options of a key restore; onProgress: keys handled so far and bytes written, for API jobs. */
export interface KeyRestoreOptions {
  dryRun: boolean;
  skipExisting: boolean;
  onProgress?: (p: { keys: number; bytes: number }) => void;
  /** Bytes of CRDs held through the first pass (see CRD_HOLD_BYTES); tests set it low. */
  crdHoldBytes?: number;
}

/**
 * Restores the keys of a stored key dump, or the live keys of a snapshot backup (read offline, under RS_KUBE_PREFIXES,
 * default the Kubernetes prefixes), into the etcd at RS_ETCD_ENDPOINTS. The stored bytes are downloaded and checked
 * against the manifest (size, sha256) before anything is written.
 */
export async function restoreBackupKeys(ctx: OpContext, repo: BackupRepository, m: Manifest, opts: KeyRestoreOptions): Promise<KeyRestoreReport> {
  const keys = await encryptionKeys(ctx.config, { forReading: true });
  const log = ctx.log.child({ component: 'restore', backupId: m.id });
  const fields = { id: m.id, sizeBytes: m.sizeBytes, sha256: m.sha256 };
  // A snapshot's trailer is not checked here (as inspect); its walk finds a damaged page.
  const backup = await openBackup(repo, m, keys, ctx.signal, { purpose: opts.dryRun ? 'restore --dry-run' : 'restore', checkTrailer: false, log });
  try {
    if (backup.kind === 'key dump') {
      log.info(fields, 'backup downloaded and verified');
      const dump = await keyDumpKeys(backup);
      try {
        return await restoreKeys(ctx, m.id, dump, opts);
      } finally {
        await dump.close();
      }
    }
    if (backup.kind !== 'snapshot') throw new OperationError(`backup ${m.id} is a ${m.strategy} listing, which cannot be restored`);
    log.info(fields, 'snapshot downloaded and verified');
    const prefixes = ctx.config.selection.prefixes.length > 0 ? ctx.config.selection.prefixes : [...DEFAULT_PREFIXES];
    return await restoreKeys(ctx, m.id, await snapshotKeys(backup, { prefixes, leaseTtls: true }), opts).catch((err: unknown) => {
      throw snapshotError(err, `backup ${m.id}`);
    });
  } finally {
    await backup.close();
  }
}

/**
 * Restores the live keys of a snapshot file (`etcdctl snapshot save`'s, k3s's, a stored artifact copied out; gzip,
 * zstd, age or a k3s zip are decoded in the work area first) into the etcd at RS_ETCD_ENDPOINTS, under RS_KUBE_PREFIXES (default
 * the Kubernetes prefixes), as a snapshot backup's with --keys: the selective restore etcd's own tools do not have.
 */
export async function restoreSnapshotFileKeys(ctx: OpContext, path: string, opts: KeyRestoreOptions): Promise<KeyRestoreReport> {
  const input = await openSnapshotInput(ctx, path, undefined, 'restore');
  try {
    const stream = await snapshotFileKeys(ctx, input, { leaseTtls: true, refuseDamaged: 'restored' });
    return await restoreKeys(ctx, path, stream, opts, path).catch((err: unknown) => {
      throw snapshotError(err, path);
    });
  } finally {
    await input.close();
  }
}

/**
 * Restores the keys of a backup of the Go Reshifter (`<id>.zip`, see archive/go-reshifter-zip.ts) into the etcd at
 * RS_ETCD_ENDPOINTS, as a key dump's: the whole archive is checked first (paths, order, sizes, CRC-32), so a bad one
 * writes nothing. The zip does not say which etcd API its keys came from: they go to v3 unless RS_ETCD_API_VERSION=v2.
 */
export async function restoreGoZipKeys(ctx: OpContext, path: string, opts: KeyRestoreOptions, name = path, id?: string): Promise<KeyRestoreReport> {
  const log = ctx.log.child({ component: 'restore', file: name });
  // The check reads the whole archive before the restore reads it again: on a large one, that takes a while too.
  const { summary, stream } = await openCheckedGoZip(ctx.log, path, name, ctx.signal, { command: 'restore', ...(id !== undefined && { id }) }).catch((err: unknown) => {
    // Found before the first key is written: say so, as a restore that fails half-way says what it wrote.
    if (err instanceof OperationError && !(err instanceof AbortedError)) err.message += '; nothing was written';
    throw err;
  });
  log.info({ id: summary.id, keys: summary.keys, valueBytes: summary.valueBytes, prefixes: summary.prefixes }, 'backup of the Go Reshifter read and checked');
  return restoreKeys(ctx, summary.id, stream, opts, name);
}

/**
 * Backup `id` of the Go Reshifter (10 digits), `<id>.zip` at the root of the store (see withGoBackupFile), restored
 * as restoreGoZipKeys does.
 */
export async function restoreGoBackupKeys(ctx: OpContext, store: Store, id: string, opts: KeyRestoreOptions): Promise<KeyRestoreReport> {
  return withGoBackupFile(ctx, store, id, 'restore', async (path, where) => ({ ...(await restoreGoZipKeys(ctx, path, opts, where, id)), file: where }));
}

/** A restore under way: where it writes, what it may write, and how far it got. */
interface KeyRestoreRun {
  log: Logger;
  selection: KeySelection;
  layout: readonly string[];
  restorer: KeyRestorer;
  handled: number;
  /** Keys read from the backup, every pass together, and the pass reading (1 for the first). */
  read: number;
  pass: number;
  onProgress: KeyRestoreOptions['onProgress'];
  matches: FilterMatches;
  filters: string[];
}

/**
 * Writes the keys of backup `id` into the etcd at RS_ETCD_ENDPOINTS: one pass over `stream` per restore phase that
 * has keys (see RestorePasses), so order holds without keeping keys in memory. Filters and `skipExisting` apply;
 * `dryRun` reads the target and writes nothing. A failure half-way says how many keys were written; running it
 * again completes it. Key dumps and snapshots (read offline) both come through here.
 */
export async function restoreKeys(ctx: OpContext, id: string, stream: KeyStream, opts: KeyRestoreOptions, file?: string): Promise<KeyRestoreReport> {
  const { config } = ctx;
  const what = file ?? `backup ${id}`;
  const log = ctx.log.child({ component: 'restore', ...(file === undefined ? { backupId: id } : { file }) });
  const strategy = config.strategy;
  const selection = buildSelection(config.selection, strategy?.kind === 'filter' ? strategy.resources : undefined);
  const started = Date.now();
  let began = false;
  return withEtcd(config, { signal: ctx.signal, log }, async (etcd, pinned) => {
    began = true;
    let run: KeyRestoreRun | undefined;
    let target: RestoreTarget | undefined;
    // Keys written (a dry run writes none: the keys it has planned), and the keys read from the backup with the pass
    // reading them: the restore reads the backup once per phase, and a first pass that finds no namespace or CRD
    // writes nothing for as long as it reads the whole backup.
    const stopProgress = reportProgress(log, 'restore', () => ({
      bytes: run?.restorer.bytesWritten ?? 0,
      keys: (opts.dryRun ? run?.handled : run?.restorer.written) ?? 0,
      read: run?.read ?? 0,
      pass: run?.pass ?? 0,
      // A snapshot's pass finds its live keys before it reads the first: the revisions it has gone through meanwhile.
      ...(stream.scanned && { scanned: stream.scanned() }),
    }));
    try {
      target = await openRestoreTarget(pinned, etcd, stream.header.apiVersion);
      const layout = layoutPrefixes(stream.header.prefixes, DEFAULT_PREFIXES);
      run = { log, selection, layout, restorer: new KeyRestorer(target, opts), handled: 0, read: 0, pass: 0, onProgress: opts.onProgress, matches: new FilterMatches(config.selection), filters: filtersOf(config) };
      log.info({ target: config.etcd.endpoints, apiVersion: target.apiVersion, dryRun: opts.dryRun, dumpRevision: stream.header.revision }, 'restore started');
      await writeInPhases(ctx.signal, stream, run, opts);
    } catch (err) {
      throw await restoreFailure(err, what, run?.restorer);
    } finally {
      stopProgress();
      target?.close();
    }
    // An API request's filters (named by their fields) are told of the API's stats, a caller of the CLI of its command.
    const lister = file !== undefined ? `"reshifter inspect ${file} --keys"` : config.selection.named !== undefined ? `GET /api/v1/stats/${id}` : `"reshifter stats ${id}"`;
    assertSelectedSomething(run.restorer.plan.totals(), config, what, lister);
    return { ...report(id, config.etcd.endpoints, target.apiVersion, run, Date.now() - started, opts), ...(file !== undefined && { file }) };
  }).catch(async (err: unknown) => {
    // Stopped during the check of the endpoints, or no endpoint answered it (a frozen etcd), before the restore began:
    // it says so, and that etcd was not changed.
    throw !began && (err instanceof AbortedError || err instanceof EndpointsSilentError) ? await restoreFailure(err, what, undefined) : err;
  });
}

/**
 * Filters that let no key of a backup that has keys through wrote nothing: nearly always a typo (`tema-1`, `pod` for
 * `pods`), said as a failure naming them, as a backup refuses such a dump, rather than as "restored 0 keys", exit 0.
 */
function assertSelectedSomething(totals: PlanTotals, config: OpContext['config'], what: string, lister: string): void {
  if (totals.keys === 0 || totals.skippedBy.filtered < totals.keys) return;
  const { selection, strategy } = config;
  const narrowing = [
    ...(strategy?.kind === 'filter' ? [`RS_BACKUP_STRATEGY=${formatStrategy(strategy)}`] : []),
    ...filterNames(selection)
      .filter(({ field }) => selection[field].length > 0)
      .map(({ field, name }) => `${name}=${selection[field].join(',')}`),
  ];
  throw new OperationError(
    `the restore selected no key: ${narrowing.join(' and ')} matches nothing ${what} holds (namespaces and resources are named as ` +
      `etcd stores them, resources plural: pods, configmaps; ${lister} lists them); nothing was written`,
  );
}

/**
 * The passes over the stream, each writing the keys of its phase; the first also the CRDs it held. A stream in key
 * order (v3: dumps and snapshots are read range by range) writes the rest in the first pass too, from the first key
 * past every namespace and CRD on, so the later pass reads only the keys before it (see RestorePasses).
 */
async function writeInPhases(signal: AbortSignal, stream: KeyStream, run: KeyRestoreRun, opts: KeyRestoreOptions): Promise<void> {
  type Held = { record: KeyRecord; parsed: ParsedKey };
  const barrier = stream.header.apiVersion === 'v3' ? phaseBarrier(run.layout) : undefined;
  const passes = new RestorePasses<Held>(opts.crdHoldBytes, barrier);
  run.log.debug({ phase: RESTORE_PHASES[0] }, 'restore phase');
  await pass(signal, stream, run, (record, parsed, phase) => {
    const bytes = record.key.length + record.value.length;
    if (!passes.opensAt(record.key)) return passes.firstPass(phase, { record, parsed }, bytes);
    run.log.debug({ phase: RESTORE_PHASES[2], from: record.key.toString('latin1') }, 'restore phase (the rest of the first pass)');
    return writeHeld(run, passes.takeHeld()).then(() => passes.firstPass(phase, { record, parsed }, bytes));
  });
  await writeHeld(run, passes.takeHeld());
  for (const phase of passes.laterPhases()) {
    run.log.debug({ phase: RESTORE_PHASES[phase] }, 'restore phase');
    await pass(signal, stream, run, (_record, _parsed, ph, index) => ph === phase && passes.leftFor(index), phase === 2 ? passes.laterPassEnd() : undefined);
  }
}

/** Writes the CRDs held through the first pass, after the namespaces it wrote (confirmed first) and before the rest. */
async function writeHeld(run: KeyRestoreRun, held: { items: Array<{ record: KeyRecord; parsed: ParsedKey }>; bytes: number }): Promise<void> {
  if (held.items.length === 0) return;
  await run.restorer.drain();
  run.log.debug({ phase: RESTORE_PHASES[1], keys: held.items.length, bytes: held.bytes }, 'restore phase (held in the first pass)');
  for (const { record, parsed } of held.items) await write(run, record, parsed);
  await run.restorer.drain();
}

/**
 * One pass over the stream: writes each key `wanted` says is due now, then waits for the writes in flight. `end`: the
 * pass stops reading at key number `end` (counted from 0). A stream that has batches is read by them: a key that is
 * not due, or that only joins a transaction, then costs no await.
 */
async function pass(
  signal: AbortSignal,
  stream: KeyStream,
  run: KeyRestoreRun,
  wanted: (record: KeyRecord, parsed: ParsedKey, phase: RestorePhase, index: number) => boolean | Promise<boolean>,
  end?: number,
): Promise<void> {
  let index = 0;
  run.pass++;
  const step = (record: KeyRecord): Promise<void> | undefined => {
    if (signal.aborted) throw new AbortedError('restore interrupted (SIGTERM/SIGINT)');
    run.read++;
    const parsed = parseKey(record.key, run.layout);
    const due = wanted(record, parsed, restorePhase(parsed), index++);
    if (due === true) return write(run, record, parsed);
    if (due === false) return undefined;
    return due.then((d) => (d ? write(run, record, parsed) : undefined));
  };
  if (end !== 0 && stream.recordBatches) {
    batches: for await (const batch of stream.recordBatches()) {
      for (const record of batch) {
        const p = step(record);
        if (p !== undefined) await p;
        if (index === end) break batches;
      }
    }
  } else if (end !== 0) {
    for await (const record of stream.records()) {
      const p = step(record);
      if (p !== undefined) await p;
      if (index === end) break;
    }
  }
  await run.restorer.drain();
}

/** Writes one key, or counts it as filtered out; a promise only when the write has to wait (see KeyRestorer.add). */
function write(run: KeyRestoreRun, record: KeyRecord, parsed: ParsedKey): Promise<void> | undefined {
  const resource = resourceLabel(parsed);
  run.matches.see(parsed);
  let added: Promise<void> | undefined;
  if (selectKey(parsed, run.selection)) added = run.restorer.add(record, resource);
  else run.restorer.skipFiltered(resource);
  if (added === undefined) return handled(run);
  return added.then(() => handled(run));
}

function handled(run: KeyRestoreRun): undefined {
  // Counted whether or not a caller listens: `onProgress?.(...)` evaluates its argument only when onProgress is set.
  run.handled++;
  run.onProgress?.({ keys: run.handled, bytes: run.restorer.bytesWritten });
  return undefined;
}

/** The error a failed restore reports: how many keys it wrote (and sent unconfirmed), so that a rerun completes it. */
async function restoreFailure(err: unknown, what: string, restorer: KeyRestorer | undefined): Promise<unknown> {
  // Let batches in flight finish, so the count of keys written is exact.
  await restorer?.drain().catch(() => undefined);
  if (err instanceof IntegrityError) return err;
  const written = restorer?.written ?? 0;
  const inDoubt = restorer?.inDoubt ?? 0;
  const why = err instanceof AbortedError ? 'was interrupted' : `failed (${describeError(err)})`;
  // Keys sent in a transaction that etcd never answered may be there or not: say so, rather than count them either way.
  const doubt = inDoubt > 0 ? ` (and sent ${inDoubt} more that etcd did not confirm: they may have been written too)` : '';
  // Nothing sent (etcd unreachable from the start, a dry run): a rerun completes nothing; what failed is what to fix.
  const outcome = written + inDoubt === 0
    ? 'before writing any key: etcd was not changed'
    : `after writing ${counted(written, 'key')}${doubt}; run it again to complete it (keys already written are left unchanged)`;
  return new (err instanceof AbortedError ? AbortedError : OperationError)(`restore of ${what} ${why} ${outcome}`, { cause: err });
}

function report(id: string, endpoints: string[], apiVersion: 'v2' | 'v3', run: KeyRestoreRun, durationMs: number, opts: KeyRestoreOptions): KeyRestoreReport {
  const { restorer, log } = run;
  const written = restorer.written;
  const unmatchedFilters = run.matches.unmatched();
  if (unmatchedFilters.length > 0) log.warn({ unmatchedFilters }, 'filter entries matched no key of the backup');
  // Finite whatever the span (--json, the log): a restore under 1 ms gets the rate of 1 ms, a lower bound.
  const keysPerSecond = ratePerSecond(written, durationMs);
  log.info({ written, bytes: restorer.bytesWritten, durationMs, keysPerSecond, dryRun: opts.dryRun }, opts.dryRun ? 'restore planned' : 'restore completed');
  return {
    id,
    dryRun: opts.dryRun,
    target: { endpoints, apiVersion },
    written,
    durationMs,
    keysPerSecond,
    totals: restorer.plan.totals(),
    resources: restorer.plan.rows(),
    unmatchedFilters,
    ...(run.filters.length > 0 && { filters: run.filters }),
  };
}

/**
 * The settings that narrow a key restore, as whoever gave them named them: the namespace and resource lists, and a
 * `filter:` RS_BACKUP_STRATEGY, which filters restores too (the hourly filter job's environment reused for a restore
 * of the nightly dump restores its resources only): named under the plan, so `skipped: N filtered` says by what.
 */
function filtersOf(config: Config): string[] {
  const sel = config.selection;
  const lists = [
    ['includeResources', 'RS_INCLUDE_RESOURCES', sel.includeResources],
    ['excludeResources', 'RS_EXCLUDE_RESOURCES', sel.excludeResources],
    ['includeNamespaces', 'RS_INCLUDE_NAMESPACES', sel.includeNamespaces],
    ['excludeNamespaces', 'RS_EXCLUDE_NAMESPACES', sel.excludeNamespaces],
  ] as const;
  const named = lists.filter(([, , list]) => list.length > 0).map(([field, variable, list]) => `${sel.named?.[field] ?? variable}=${list.join(',')}`);
  return config.strategy?.kind === 'filter' ? [`RS_BACKUP_STRATEGY=${formatStrategy(config.strategy)}`, ...named] : named;
}
