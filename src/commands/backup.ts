import { pipeline } from 'node:stream';
import type { Duplex } from 'node:stream';
import { encoders } from '../archive/codec.js';
import { ByteCounter, HashCounter } from '../archive/hash-counter.js';
import type { Manifest } from '../archive/manifest.js';
import { AbortedError, OperationError } from '../core/errors.js';
import { artifactName, newBackupId } from '../core/naming.js';
import { formatStrategy, type StrategySpec } from '../core/strategy.js';
import type { BackupSource } from '../etcd/source.js';
import { reportProgress } from '../progress.js';
import type { BackupRepository } from '../store/backup-repository.js';
import { VERSION } from '../version.js';
import type { CommandContext } from './context.js';
import { prune } from './prune.js';
import { openRepository, withEtcd } from './shared.js';
import { openSource, resolveStrategy } from './strategies.js';
import { codecKeys } from './keys.js';

export interface BackupOptions {
  /** Overrides RS_BACKUP_STRATEGY. */
  strategy?: StrategySpec;
  /** Called with progress as bytes flow (for metrics and jobs). */
  onProgress?: (p: { bytes: number; storedBytes: number }) => void;
}

/**
 * Takes one backup: strategy -> codec -> store, then the manifest, written last. On any failure nothing that
 * `list` shows is left: the store's put is atomic, and an artifact already stored is deleted again.
 */
export async function createBackup(ctx: CommandContext, repo: BackupRepository, opts: BackupOptions = {}): Promise<Manifest> {
  const { config, signal } = ctx;
  const started = new Date();
  const id = newBackupId(started);
  const log = ctx.log.child({ backupId: id });
  const keys = await codecKeys(config);
  return withEtcd(config, async (etcd) => {
    const strategy = await resolveStrategy(config, etcd, opts.strategy);
    log.info({ strategy: formatStrategy(strategy), cluster: config.cluster, store: repo.store.location }, 'backup started');
    if (signal.aborted) throw new AbortedError('backup interrupted before it started');
    const source = await openSource(strategy, config, etcd, log);
    const codec = {
      compression: config.compression,
      level: config.compressionLevel,
      encryption: keys.encrypt ? ('age' as const) : ('none' as const),
    };
    const artifact = artifactName(id, source.format, codec.compression, codec.encryption);
    const raw = new ByteCounter();
    const stored = new HashCounter();
    const stopProgress = reportProgress(log, 'backup', () => ({ bytes: raw.bytes }));
    const onProgress = opts.onProgress;
    const progressTimer = onProgress
      ? setInterval(() => onProgress({ bytes: raw.bytes, storedBytes: stored.bytes }), 1000).unref()
      : undefined;
    let artifactStored = false;
    try {
      await storeStream(source, [raw, ...encoders(codec, keys), stored], repo, artifact, signal);
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
        sha256: stored.digest(),
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
      if (artifactStored) await repo.delete({ id, artifact }).catch(() => undefined);
      const e = signal.aborted && !(err instanceof AbortedError) ? new AbortedError('backup interrupted (SIGTERM/SIGINT); nothing was kept', { cause: err }) : err;
      log.error({ err: e instanceof Error ? e.message : String(e) }, 'backup failed');
      throw e;
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

/** `reshifter backup`: one backup now, then retention. */
export async function backupCommand(ctx: CommandContext): Promise<void> {
  const repo = openRepository(ctx.config);
  try {
    const manifest = await createBackup(ctx, repo);
    await prune(ctx, repo, { protect: new Set([manifest.id]) });
    ctx.print(ctx.args.flags.json ? JSON.stringify(manifest) : `${manifest.id}\t${manifest.artifact}\t${manifest.sizeBytes} bytes`);
  } finally {
    await repo.store.close();
  }
}
