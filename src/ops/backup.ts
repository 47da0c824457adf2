import { pipeline } from 'node:stream';
import type { Duplex, Readable } from 'node:stream';
import { encoders, manifestCodec, newCodec, type Codec, type CodecKeys } from '../archive/codec.js';
import { ByteCounter, HashCounter } from '../archive/hash-counter.js';
import type { Manifest } from '../archive/manifest.js';
import type { Config } from '../config/types.js';
import type { BackupObserver } from '../core/backup-observer.js';
import { AbortedError, OperationError, StoreError, describeError } from '../core/errors.js';
import { artifactName, newBackupId } from '../core/naming.js';
import { formatStrategy, type StrategySpec } from '../core/strategy.js';
import { EtcdInterruptedError } from '../etcd/interrupt.js';
import type { BackupSource, SourceFacts } from '../etcd/source.js';
import { sourceMembers } from '../etcd/source-members.js';
import { withEtcd } from '../etcd/with-etcd.js';
import type { AuditRow } from '../kube/audit-row.js';
import type { Logger } from '../log.js';
import { reportProgress } from '../progress.js';
import type { BackupRepository } from '../store/backup-repository.js';
import { TOOL } from '../version.js';
import { warnOfClusterChange } from './cluster-change.js';
import type { OpContext } from './context.js';
import { encryptionKeys } from './encryption-keys.js';
import { openSource, resolveStrategy } from './strategies.js';

export interface BackupOptions {
  /** Overrides RS_BACKUP_STRATEGY. */
  strategy?: StrategySpec;
  /** Called with progress as bytes flow (for metrics and jobs). */
  onProgress?: (p: { bytes: number; storedBytes: number; totalBytes?: number; keys?: number }) => void;
  /** Use this id (the caller's log lines already carry it); default: a new one. */
  id?: string;
  /** The store's bucket was found missing when the id was chosen (backupRunContext): the backup fails with it at once. */
  noBucket?: StoreError;
  /** Told how the backup ended (metrics, health). */
  observer?: BackupObserver;
  /** Told each row of a `render` listing as it is read (the CLI echoes them to stdout); a promise it returns is awaited. */
  onRenderRow?: (row: AuditRow) => Promise<void> | void;
  /** Ids of the backups that queued or running jobs use (`run`): the retention after this backup keeps them. */
  inUse?: () => readonly string[];
}

/** One backup in progress, as far as it has got. */
export interface BackupRun {
  id: string;
  started: Date;
  log: Logger;
  strategy?: StrategySpec | undefined;
}

/** The stored artifact of a backup: its name, and the counts and sha256 its manifest records. */
export interface StoredArtifact {
  artifact: string;
  codec: Codec;
  sha256: string;
  sizeBytes: number;
  rawSizeBytes: number;
}

/**
 * Takes one backup: strategy -> codec -> store, then the manifest, written last. On any failure nothing that
 * `list` shows is left: the store's put is atomic, and an artifact already stored is deleted again.
 */
export async function createBackup(ctx: OpContext, repo: BackupRepository, opts: BackupOptions = {}): Promise<Manifest> {
  const started = new Date();
  const id = opts.id ?? newBackupId(started);
  // A caller that also prunes binds the id to its own logger; never bind it twice.
  const log = ctx.log.bindings().backupId === id ? ctx.log : ctx.log.child({ backupId: id });
  const run: BackupRun = { id, started, log, strategy: opts.strategy ?? ctx.config.strategy };
  try {
    const manifest = await takeBackup(ctx, repo, opts, run);
    await warnOfClusterChange(repo, manifest, log, opts.observer, ctx.config.etcd.readFrom?.endpoints ?? 'RS_ETCD_ENDPOINTS');
    opts.observer?.backupSucceeded?.(manifest);
    return manifest;
  } catch (err) {
    // The backup's own words, unless it said already where it stopped (before it started, before its manifest).
    const ownWords = err instanceof AbortedError && !(err instanceof EtcdInterruptedError);
    const e = ctx.signal.aborted && !ownWords ? new AbortedError(`backup interrupted (${describeError(ctx.signal.reason)}); nothing was kept`, { cause: err }) : err;
    log.error({ err: describeError(e) }, 'backup failed');
    opts.observer?.backupFailed?.({
      id,
      strategy: run.strategy ? formatStrategy(run.strategy) : 'auto',
      durationMs: Date.now() - started.getTime(),
      aborted: e instanceof AbortedError,
      reason: describeError(e),
    });
    throw e;
  }
}

async function takeBackup(ctx: OpContext, repo: BackupRepository, opts: BackupOptions, run: BackupRun): Promise<Manifest> {
  const { config, signal } = ctx;
  const { id, log } = run;
  // Before etcd is read: the snapshot would be streamed whole only for its upload to fail alike.
  if (opts.noBucket) throw new StoreError(`backup not started: ${opts.noBucket.message}`, 'no-bucket', { cause: opts.noBucket });
  // Stopped while the id was looked up (an S3 outage): etcd is not asked at all, not even for its members' status.
  if (signal.aborted) throw new AbortedError('backup interrupted before it started');
  const keys = await encryptionKeys(config);
  return withEtcd(config, { signal, log }, async (etcd, pinned) => {
    const strategy = await resolveStrategy(pinned, etcd, log, opts.strategy);
    run.strategy = strategy;
    log.info({ strategy: formatStrategy(strategy), cluster: config.cluster, store: repo.store.location }, 'backup started');
    if (signal.aborted) throw new AbortedError('backup interrupted before it started');
    const opened = await openSource(strategy, pinned, etcd, log, opts.onRenderRow);
    // Asked while the content streams, so an etcd gone once it is read does not hold the manifest back.
    const listed = sourceMembers(etcd, pinned.etcd, log);
    const { source, stored } = await storeFromSource(ctx, repo, opened, keys, run, opts.onProgress);
    try {
      const facts = await source.facts();
      assertSelectedSomething(config.selection, strategy, facts);
      const cluster = facts.apiVersion === 'v3' ? await listed : {};
      const manifest = manifestOf(ctx, run, strategy, source, stored, { ...facts, ...cluster });
      if (signal.aborted) throw new AbortedError('backup interrupted before its manifest was written');
      await repo.putManifest(manifest);
      log.info(
        { artifact: stored.artifact, sizeBytes: manifest.sizeBytes, rawSizeBytes: manifest.rawSizeBytes, revision: facts.revision, keys: facts.keys, durationMs: manifest.durationMs },
        'backup completed',
      );
      return manifest;
    } catch (err) {
      // The backup has failed either way (its error is the one thrown); an artifact left behind has no manifest,
      // so nothing lists or restores it, and retention removes it as an orphan.
      await repo.delete({ id, artifact: stored.artifact }).catch((delErr: unknown) =>
        log.warn({ artifact: stored.artifact, err: describeError(delErr) }, 'could not delete the artifact of the failed backup; retention removes it as an orphan'),
      );
      throw err;
    }
  });
}

/**
 * A key dump whose filters selected no key is refused rather than stored: it would restore nothing, become the
 * series' `latest`, and count against retention. A filter that matches nothing is nearly always a typo (`pod` for
 * `pods`, a misspelt namespace). A cluster that holds no key at all, without filters, is backed up as it is.
 */
function assertSelectedSomething(selection: Config['selection'], strategy: StrategySpec, facts: SourceFacts): void {
  if (facts.keys !== 0) return;
  const narrowing = [
    ...(strategy.kind === 'filter' ? [`the strategy ${formatStrategy(strategy)}`] : []),
    ...(
      [
        ['RS_INCLUDE_NAMESPACES', selection.includeNamespaces],
        ['RS_INCLUDE_RESOURCES', selection.includeResources],
      ] as const
    )
      .filter(([, v]) => v.length > 0)
      .map(([name, v]) => `${name}=${v.join(',')}`),
  ];
  if (narrowing.length === 0) return;
  throw new OperationError(
    `the backup selected no key: ${narrowing.join(' and ')} matches nothing etcd holds (resources are named as etcd stores them, plural: pods, configmaps, deployments; "reshifter stats" lists them); no backup was stored`,
  );
}

/** What storeArtifact needs of a source: the content stream and its name (checkpoints bring theirs too). */
export type ArtifactSource = Pick<BackupSource, 'format' | 'stream' | 'expectedBytes' | 'contentSha256' | 'keysSoFar'>;

/** Streams the source through the codec into the store (atomically), counting and hashing what passes. */
export async function storeArtifact(
  ctx: OpContext,
  repo: BackupRepository,
  source: ArtifactSource,
  keys: CodecKeys,
  run: BackupRun,
  onProgress: BackupOptions['onProgress'],
): Promise<StoredArtifact> {
  const { config } = ctx;
  const codec = newCodec(config.compression, config.compressionLevel, keys);
  const artifact = artifactName(run.id, source.format, codec.compression, codec.encryption);
  const raw = new ByteCounter();
  const transforms = encoders(codec, keys);
  // Stored untransformed, the artifact is the content: take its sha256 from the source's own pass if it has one.
  const contentSha256 = transforms.length === 0 ? source.contentSha256?.bind(source) : undefined;
  const stored = contentSha256 ? new ByteCounter() : new HashCounter();
  const total = source.expectedBytes;
  const keysSoFar = source.keysSoFar?.bind(source);
  // As the API's job progress: of a snapshot the database size etcd reported (`total`), of a dump the keys so far.
  const stopProgress = reportProgress(run.log, 'backup', () => ({ bytes: raw.bytes, ...(keysSoFar && { keys: keysSoFar() }) }), total);
  const progress = () => ({ bytes: raw.bytes, storedBytes: stored.bytes, ...(total !== undefined && { totalBytes: total }), ...(keysSoFar && { keys: keysSoFar() }) });
  const progressTimer = onProgress ? setInterval(() => onProgress(progress()), 1000).unref() : undefined;
  try {
    await storeStream(source, [raw, ...transforms, stored], repo, artifact, ctx.signal);
  } finally {
    stopProgress();
    if (progressTimer) clearInterval(progressTimer);
  }
  const sha256 = contentSha256 ? contentSha256() : (stored as HashCounter).digest();
  return { artifact, codec, sha256, sizeBytes: stored.bytes, rawSizeBytes: raw.bytes };
}

/**
 * Stores the source's content; a stream that broke mid-way and that its source can take again from the start (a
 * snapshot, of another member) is stored anew, counted from zero: its put failed and left nothing.
 */
async function storeFromSource(
  ctx: OpContext,
  repo: BackupRepository,
  first: BackupSource,
  keys: CodecKeys,
  run: BackupRun,
  onProgress: BackupOptions['onProgress'],
): Promise<{ source: BackupSource; stored: StoredArtifact }> {
  for (let source = first; ; ) {
    try {
      return { source, stored: await storeArtifact(ctx, repo, source, keys, run, onProgress) };
    } catch (err) {
      const next = ctx.signal.aborted ? undefined : await source.again?.(err);
      if (next === undefined) throw err;
      source = next;
    }
  }
}

/** The manifest of a stored artifact: what it holds, how it is encoded, and where it came from. */
function manifestOf(ctx: OpContext, run: BackupRun, strategy: StrategySpec, source: BackupSource, stored: StoredArtifact, facts: SourceFacts): Manifest {
  return {
    format: 1,
    id: run.id,
    cluster: ctx.config.cluster,
    strategy: formatStrategy(strategy),
    createdAt: run.started.toISOString(),
    artifact: stored.artifact,
    contentType: source.contentType,
    ...manifestCodec(stored.codec),
    sha256: stored.sha256,
    sizeBytes: stored.sizeBytes,
    rawSizeBytes: stored.rawSizeBytes,
    etcd: { version: facts.etcdVersion, revision: facts.revision, apiVersion: facts.apiVersion, ...(facts.members !== undefined && { members: facts.members }),
      ...(facts.clusterId !== undefined && { clusterId: facts.clusterId }),
    },
    ...(facts.keys !== undefined && { keys: facts.keys }),
    ...(facts.prefixes !== undefined && { prefixes: facts.prefixes }),
    tool: TOOL,
    durationMs: Date.now() - run.started.getTime(),
  };
}

/** Streams a source through the transforms into the store; fails if either side fails. */
async function storeStream(source: ArtifactSource, transforms: Duplex[], repo: BackupRepository, artifact: string, signal: AbortSignal): Promise<void> {
  const last = transforms[transforms.length - 1]!;
  // Said as every interrupted backup is: which signal, and that the store holds nothing of it (the put is abandoned).
  const onAbort = () => source.stream.destroy(new AbortedError(`backup interrupted (${describeError(signal.reason)}); nothing was kept`));
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const upstream = new Promise<void>((resolve, reject) => {
      pipeline([source.stream, ...transforms] as unknown as [NodeJS.ReadableStream, NodeJS.WritableStream], (err) => (err ? reject(err) : resolve()));
    });
    // The store consumes the last transform's readable side; the pipeline above feeds its writable side.
    const results = await Promise.allSettled([upstream, repo.putArtifact(artifact, last as unknown as Readable, signal)]);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      // Prefer the source's error (etcd died) over the store's echo of it; but a store that failed by itself (a full
      // disk) reaches the source as the bare fs error: then the store's words for it, which name the file.
      const upstreamError: unknown = results[0].status === 'rejected' ? results[0].reason : undefined;
      const storeError: unknown = results[1].status === 'rejected' ? results[1].reason : undefined;
      const ownFailure = storeError instanceof StoreError && storeError.cause === upstreamError;
      const first = upstreamError === undefined || ownFailure ? storeError : upstreamError;
      throw first instanceof Error ? first : new OperationError(String(first));
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
