import { pipeline } from 'node:stream';
import type { Duplex } from 'node:stream';
import { encoders } from '../archive/codec.js';
import { ByteCounter, HashCounter } from '../archive/hash-counter.js';
import type { Manifest } from '../archive/manifest.js';
import type { BackupObserver } from '../core/backup-observer.js';
import { AbortedError, OperationError, describeError } from '../core/errors.js';
import { artifactName, newBackupId } from '../core/naming.js';
import { formatStrategy, type StrategySpec } from '../core/strategy.js';
import type { BackupSource } from '../etcd/source.js';
import type { Logger } from '../log.js';
import { reportProgress } from '../progress.js';
import { processMetrics } from '../server/metrics.js';
import { pushMetrics } from '../server/pushgateway.js';
import type { BackupRepository } from '../store/backup-repository.js';
import { VERSION } from '../version.js';
import type { CommandContext } from './context.js';
import { openRepository, withEtcd } from './shared.js';
import { openSource, resolveStrategy } from './strategies.js';
import { codecKeys } from './keys.js';

export interface BackupOptions {
  /** Overrides RS_BACKUP_STRATEGY. */
  strategy?: StrategySpec;
  /** Called with progress as bytes flow (for metrics and jobs). */
  onProgress?: (p: { bytes: number; storedBytes: number; totalBytes?: number }) => void;
  /** Use this id (the caller's log lines already carry it); default: a new one. */
  id?: string;
  /** Told how the backup ended (metrics, health). */
  observer?: BackupObserver;
}

/** One backup in progress, as far as it has got. */
interface BackupRun {
  id: string;
  started: Date;
  log: Logger;
  strategy?: StrategySpec | undefined;
}

/**
 * Takes one backup: strategy -> codec -> store, then the manifest, written last. On any failure nothing that
 * `list` shows is left: the store's put is atomic, and an artifact already stored is deleted again.
 */
export async function createBackup(ctx: CommandContext, repo: BackupRepository, opts: BackupOptions = {}): Promise<Manifest> {
  const started = new Date();
  const id = opts.id ?? newBackupId(started);
  // A caller that also prunes binds the id to its own logger; never bind it twice.
  const log = ctx.log.bindings().backupId === id ? ctx.log : ctx.log.child({ backupId: id });
  const run: BackupRun = { id, started, log, strategy: opts.strategy ?? ctx.config.strategy };
  try {
    const manifest = await takeBackup(ctx, repo, opts, run);
    opts.observer?.backupSucceeded?.(manifest);
    return manifest;
  } catch (err) {
    const e = ctx.signal.aborted && !(err instanceof AbortedError) ? new AbortedError('backup interrupted (SIGTERM/SIGINT); nothing was kept', { cause: err }) : err;
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

async function takeBackup(ctx: CommandContext, repo: BackupRepository, opts: BackupOptions, run: BackupRun): Promise<Manifest> {
  const { config, signal } = ctx;
  const { id, started, log } = run;
  const keys = await codecKeys(config);
  return withEtcd(config, async (etcd) => {
    const strategy = await resolveStrategy(config, etcd, opts.strategy);
    run.strategy = strategy;
    log.info({ strategy: formatStrategy(strategy), cluster: config.cluster, store: repo.store.location }, 'backup started');
    if (signal.aborted) throw new AbortedError('backup interrupted before it started');
    // `render` prints its listing as it reads (JSON lines with --json).
    const source = await openSource(strategy, config, etcd, log, { print: ctx.print, json: ctx.args.flags.json === true });
    const codec = {
      compression: config.compression,
      level: config.compressionLevel,
      encryption: keys.encrypt ? ('age' as const) : ('none' as const),
    };
    const artifact = artifactName(id, source.format, codec.compression, codec.encryption);
    const raw = new ByteCounter();
    const transforms = encoders(codec, keys);
    // Stored untransformed, the artifact is the content: take its sha256 from the source's own pass if it has one.
    const contentSha256 = transforms.length === 0 ? source.contentSha256?.bind(source) : undefined;
    const stored = contentSha256 ? new ByteCounter() : new HashCounter();
    const stopProgress = reportProgress(log, 'backup', () => ({ bytes: raw.bytes }));
    const onProgress = opts.onProgress;
    const progressTimer = onProgress
      ? setInterval(() => onProgress({ bytes: raw.bytes, storedBytes: stored.bytes, ...(source.expectedBytes !== undefined && { totalBytes: source.expectedBytes }) }), 1000).unref()
      : undefined;
    let artifactStored = false;
    try {
      await storeStream(source, [raw, ...transforms, stored], repo, artifact, signal);
      artifactStored = true;
      const facts = await source.facts();
      const manifest: Manifest = {
        format: 1,
        id,
        cluster: config.cluster,
        strategy: formatStrategy(strategy),
        createdAt: started.toISOString(),
        artifact,
        contentType: source.contentType,
        compression: codec.compression,
        encryption: codec.encryption,
        sha256: contentSha256 ? contentSha256() : (stored as HashCounter).digest(),
        sizeBytes: stored.bytes,
        rawSizeBytes: raw.bytes,
        etcd: { version: facts.etcdVersion, revision: facts.revision, apiVersion: facts.apiVersion },
        ...(facts.keys !== undefined && { keys: facts.keys }),
        ...(facts.prefixes !== undefined && { prefixes: facts.prefixes }),
        tool: { name: 'reshifter', version: VERSION },
        durationMs: Date.now() - started.getTime(),
      };
      if (signal.aborted) throw new AbortedError('backup interrupted before its manifest was written');
      await repo.putManifest(manifest);
      log.info(
        { artifact, sizeBytes: manifest.sizeBytes, rawSizeBytes: manifest.rawSizeBytes, revision: facts.revision, keys: facts.keys, durationMs: manifest.durationMs },
        'backup completed',
      );
      return manifest;
    } catch (err) {
      if (artifactStored) {
        // The backup has failed either way (its error is the one thrown); an artifact left behind has no manifest,
        // so nothing lists or restores it, and retention removes it as an orphan.
        await repo.delete({ id, artifact }).catch((delErr: unknown) =>
          log.warn({ artifact, err: describeError(delErr) }, 'could not delete the artifact of the failed backup; retention removes it as an orphan'),
        );
      }
      throw err;
    } finally {
      stopProgress();
      if (progressTimer) clearInterval(progressTimer);
    }
  });
}

/** Streams a source through the transforms into the store; fails if either side fails. */
async function storeStream(source: BackupSource, transforms: Duplex[], repo: BackupRepository, artifact: string, signal: AbortSignal): Promise<void> {
  const last = transforms[transforms.length - 1]!;
  const onAbort = () => source.stream.destroy(new AbortedError('backup interrupted (SIGTERM/SIGINT)'));
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const upstream = new Promise<void>((resolve, reject) => {
      pipeline([source.stream, ...transforms] as unknown as [NodeJS.ReadableStream, NodeJS.WritableStream], (err) => (err ? reject(err) : resolve()));
    });
    // The store consumes the last transform's readable side; the pipeline above feeds its writable side.
    const results = await Promise.allSettled([upstream, repo.putArtifact(artifact, last as unknown as import('node:stream').Readable, signal)]);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      // Prefer the source's error (etcd died) over the store's echo of it.
      const first = results[0].status === 'rejected' ? results[0].reason : failed.reason;
      throw first instanceof Error ? first : new OperationError(String(first));
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/** `reshifter backup`: one backup now, then retention; pushes its metrics when RS_PUSHGATEWAY_URL is set. */
export async function backupCommand(ctx: CommandContext): Promise<void> {
  // Loaded here rather than at the top: backup-job.js builds on createBackup above (no import cycle).
  const { backupAndPrune, backupRunContext } = await import('./backup-job.js');
  const metrics = processMetrics();
  const run = backupRunContext(ctx);
  const repo = openRepository(ctx.config, ctx.log);
  try {
    const manifest = await backupAndPrune(run.ctx, repo, { id: run.id, observer: metrics.observer });
    ctx.print(ctx.args.flags.json ? JSON.stringify(manifest) : `${manifest.id}\t${manifest.artifact}\t${manifest.sizeBytes} bytes`);
  } finally {
    await repo.store.close();
    const url = ctx.config.pushgatewayUrl;
    if (url !== undefined) await pushMetrics(url, metrics, { cluster: ctx.config.cluster }, run.ctx.log);
  }
}
