import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { encoders, manifestCodec, newCodec, type Codec, type CodecKeys } from '../archive/codec.js';
import { DELTA_ARTIFACT_FORMAT } from '../archive/delta-segment-format.js';
import { DeltaSegmentWriter, segmentStream } from '../archive/delta-segment-writer.js';
import { ByteCounter, HashCounter } from '../archive/hash-counter.js';
import { DELTA_STRATEGY, type DeltaManifest } from '../archive/manifest.js';
import { DELTA_CONTENT_TYPE } from '../core/content-type.js';
import type { SegmentCut } from '../core/delta-segmenter.js';
import { describeError } from '../core/errors.js';
import { artifactName, newBackupId } from '../core/naming.js';
import type { Config } from '../config/types.js';
import type { Logger } from '../log.js';
import type { BackupRepository } from '../store/backup-repository.js';
import { TOOL } from '../version.js';

/** The chain a segment continues: its full backup, and what the recording watches. */
export interface SegmentChain {
  /** The full backup's id and the revision its manifest names. */
  base: string;
  baseRevision: number;
  /** The key prefixes recorded (a key-dump base); absent: every key. */
  prefixes?: string[];
  /** etcd's version, for the manifest. */
  etcdVersion: string;
}

export interface StoreSegmentOptions {
  /** Use this id (default: a new one at `now`). */
  id?: string;
  now?: Date;
  /** Aborts the upload. A flush on SIGTERM passes none: the pending changes are written before exit. */
  signal?: AbortSignal;
}

/**
 * Stores one delta segment as every backup is stored: the artifact (the segment's tar, compressed and encrypted
 * with the configured codec, hashed as it goes) and then its manifest, which makes it exist. A failed manifest write
 * deletes the artifact again (else retention removes it as an orphan).
 */
export async function storeSegment(
  ctx: { config: Config; log: Logger },
  repo: BackupRepository,
  keys: CodecKeys,
  chain: SegmentChain,
  cut: SegmentCut,
  opts: StoreSegmentOptions = {},
): Promise<DeltaManifest> {
  const started = opts.now ?? new Date();
  const id = opts.id ?? newBackupId(started);
  const { config } = ctx;
  const codec = newCodec(config.compression, config.compressionLevel, keys);
  const artifact = artifactName(id, DELTA_ARTIFACT_FORMAT, codec.compression, codec.encryption);
  const writer = new DeltaSegmentWriter({
    cluster: config.cluster,
    base: chain.base,
    baseRevision: chain.baseRevision,
    fromRevision: cut.fromRevision,
    createdAt: started.toISOString(),
    ...(chain.prefixes !== undefined && { prefixes: chain.prefixes }),
  });
  const raw = new ByteCounter();
  const stored = new HashCounter();
  const steps = [raw, ...encoders(codec, keys), stored];
  const last = steps[steps.length - 1]!;
  const signal = opts.signal ? { signal: opts.signal } : {};
  // A store that fails before it reads (a folder it cannot make) destroys the body with its error, which both
  // promises below report: the stream's own 'error' event must not also go unheard and end the process.
  last.on('error', () => undefined);
  const results = await Promise.allSettled([
    pipeline([segmentStream(writer, cut.events, cut.toRevision), ...steps] as unknown as [Readable, Writable], signal),
    repo.putArtifact(artifact, last as unknown as Readable, opts.signal),
  ]);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  const manifest = segmentManifest(id, started, config.cluster, artifact, codec, chain, cut, writer, { sha256: stored.digest(), sizeBytes: stored.bytes, rawSizeBytes: raw.bytes });
  try {
    await repo.putManifest(manifest);
  } catch (err) {
    await repo.delete({ id, artifact }).catch((delErr: unknown) =>
      ctx.log.warn({ artifact, err: describeError(delErr) }, 'could not delete the artifact of a failed segment; retention removes it as an orphan'),
    );
    throw err;
  }
  return manifest;
}

/** The manifest of a stored segment: what every manifest says, and the chain's fields. */
function segmentManifest(
  id: string,
  started: Date,
  cluster: string,
  artifact: string,
  codec: Codec,
  chain: SegmentChain,
  cut: SegmentCut,
  writer: DeltaSegmentWriter,
  stored: { sha256: string; sizeBytes: number; rawSizeBytes: number },
): DeltaManifest {
  return {
    format: 1,
    id,
    cluster,
    strategy: DELTA_STRATEGY,
    createdAt: started.toISOString(),
    artifact,
    contentType: DELTA_CONTENT_TYPE,
    ...manifestCodec(codec),
    ...stored,
    etcd: { version: chain.etcdVersion, revision: cut.toRevision, apiVersion: 'v3' },
    ...(chain.prefixes !== undefined && { prefixes: chain.prefixes }),
    tool: TOOL,
    durationMs: Date.now() - started.getTime(),
    base: chain.base,
    fromRevision: cut.fromRevision,
    toRevision: cut.toRevision,
    events: writer.events,
    ...(writer.firstEventAt !== undefined && { firstEventAt: new Date(writer.firstEventAt).toISOString() }),
    ...(writer.lastEventAt !== undefined && { lastEventAt: new Date(writer.lastEventAt).toISOString() }),
  };
}
