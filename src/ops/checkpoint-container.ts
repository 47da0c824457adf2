import { pipeline } from 'node:stream';
import type { Readable } from 'node:stream';
import { CheckpointArchiveCheck, checkpointMismatch, type CheckpointArchiveInfo } from '../archive/checkpoint-archive.js';
import { manifestCodec, type CodecKeys } from '../archive/codec.js';
import { HashCounter } from '../archive/hash-counter.js';
import type { CheckpointFacts, Manifest } from '../archive/manifest.js';
import { goArch } from '../archive/oci-image.js';
import { containerKey, type SelectedContainer } from '../core/checkpoint-targets.js';
import { CHECKPOINT_CONTENT_TYPE } from '../core/content-type.js';
import { AbortedError, IntegrityError, OperationError, StoreError, describeError } from '../core/errors.js';
import { openNodeArchive, removeNodeArchive } from '../kubelet/checkpoint-file.js';
import type { KubeletClient } from '../kubelet/client.js';
import type { CheckpointReply } from '../kubelet/types.js';
import type { Logger } from '../log.js';
import type { BackupRepository } from '../store/backup-repository.js';
import { TOOL } from '../version.js';
import { storeArtifact, type BackupOptions, type BackupRun, type StoredArtifact } from './backup.js';
import { newBackupIdIn } from './backup-id.js';
import type { CheckpointSettings } from './checkpoint-settings.js';
import type { OpContext } from './context.js';

/** The artifact's format: `<id>.checkpoint.tar[.zst|.gz][.age]`, the kubelet's archive as it was. */
const FORMAT = 'checkpoint.tar';

/** What one container's backup needs besides the context. */
export interface ContainerJob {
  repo: BackupRepository;
  client: KubeletClient;
  settings: CheckpointSettings;
  keys: CodecKeys;
  /** The node the container's pod runs on, as the kubelet's pod list says. */
  node?: string | undefined;
  onProgress?: BackupOptions['onProgress'];
}

/**
 * One container's checkpoint as one backup: the kubelet checkpoints it, the archive it leaves on the node is read once
 * from RS_CHECKPOINT_DIR (hashed, its layout checked as it passes: a broken archive aborts the store's atomic put),
 * compressed and encrypted into the store, then the manifest is written last; the node's copy is deleted unless
 * RS_CHECKPOINT_KEEP_LOCAL. On any failure nothing is stored and the node's copy stays (it may be all there is).
 */
export async function checkpointContainer(ctx: OpContext, job: ContainerJob, c: SelectedContainer): Promise<Manifest> {
  const started = new Date();
  const { id, log, noBucket } = await newBackupIdIn(job.repo, ctx, { container: containerKey(c) });
  // Before the kubelet writes a checkpoint that could not be stored.
  if (noBucket) throw new StoreError(`checkpoint not started: ${noBucket.message}`, 'no-bucket', { cause: noBucket });
  const run: BackupRun = { id, started, log, strategy: { kind: 'checkpoint' } };
  const { settings } = job;
  run.log.info({ node: job.node, timeoutSeconds: settings.timeoutSeconds }, 'checkpoint started');
  const reply = await job.client.checkpoint(c.namespace, c.pod, c.container, settings.timeoutSeconds, ctx.signal);
  run.log.info({ file: reply.fileName }, 'checkpoint written on the node');
  try {
    return await storeCheckpoint(ctx, job, run, c, reply);
  } catch (err) {
    // Nothing was stored: the node's archive may be all there is of this checkpoint.
    run.log.warn({ file: reply.fileName, dir: settings.dir }, 'node copy kept');
    throw err;
  }
}

/** The archive the kubelet left into the store, then the manifest, then (unless kept) the node's copy deleted. */
async function storeCheckpoint(ctx: OpContext, job: ContainerJob, run: BackupRun, c: SelectedContainer, reply: CheckpointReply): Promise<Manifest> {
  const { settings } = job;
  const { stored, info, archiveSha256 } = await storeNodeArchive(ctx, job, run, reply);
  let manifest: Manifest;
  try {
    const mismatch = checkpointMismatch(info, c);
    if (mismatch !== undefined) throw new OperationError(`the kubelet answered with another container's archive (${reply.fileName}): ${mismatch}; nothing was stored`);
    manifest = checkpointManifest(ctx, run, stored, checkpointFacts(c, job.node, reply, info, archiveSha256));
    if (ctx.signal.aborted) throw new AbortedError('checkpoint backup interrupted before its manifest was written');
    await job.repo.putManifest(manifest);
  } catch (err) {
    await job.repo.delete({ id: run.id, artifact: stored.artifact }).catch((delErr: unknown) =>
      run.log.warn({ artifact: stored.artifact, err: describeError(delErr) }, 'could not delete the artifact of the failed backup; retention removes it as an orphan'),
    );
    throw err;
  }
  run.log.info({ artifact: stored.artifact, sizeBytes: manifest.sizeBytes, rawSizeBytes: manifest.rawSizeBytes, durationMs: manifest.durationMs }, 'backup completed');
  if (!settings.keepLocal) await removeFromNode(settings.dir, reply.fileName, run.log);
  return manifest;
}

/** Reads the node's archive once into the store: its sha256 and layout from the same pass. */
async function storeNodeArchive(ctx: OpContext, job: ContainerJob, run: BackupRun, reply: CheckpointReply): Promise<{ stored: StoredArtifact; info: CheckpointArchiveInfo; archiveSha256: string }> {
  const node = await openNodeArchive(job.settings.dir, reply.fileName);
  const hash = new HashCounter();
  const check = new CheckpointArchiveCheck();
  // Errors anywhere (the file, a layout the check refuses) reach the store as the source's error: the put is aborted.
  const stream = pipeline(node.stream, hash, check, () => undefined) as unknown as Readable;
  const stored = await storeArtifact(ctx, job.repo, { format: FORMAT, stream, expectedBytes: node.size, contentSha256: () => hash.digest() }, job.keys, run, job.onProgress).catch((err: unknown) => {
    throw err instanceof IntegrityError ? new IntegrityError(err.check, `${reply.fileName} is not a usable checkpoint archive (${describeError(err).slice(err.check.length + 2)}); nothing was stored`, { cause: err }) : err;
  });
  if (hash.bytes !== node.size) {
    await job.repo.delete({ id: run.id, artifact: stored.artifact }).catch(() => undefined);
    throw new OperationError(`${reply.fileName} changed while it was read (${node.size} bytes when opened, ${hash.bytes} read); nothing was stored`);
  }
  return { stored, info: check.info, archiveSha256: hash.digest() };
}

function checkpointFacts(c: SelectedContainer, node: string | undefined, reply: CheckpointReply, info: CheckpointArchiveInfo, archiveSha256: string): CheckpointFacts {
  return {
    namespace: c.namespace,
    pod: c.pod,
    container: c.container,
    podUid: c.podUid,
    ...(node !== undefined && { node }),
    kubeletPath: reply.kubeletPath,
    fileName: reply.fileName,
    ...(reply.checkpointedAt !== undefined && { checkpointedAt: reply.checkpointedAt.toISOString() }),
    archiveSha256,
    // This process runs on the node that took the checkpoint (a DaemonSet's pod): its architecture is the node's.
    architecture: goArch(),
    ...(info.containerManager !== undefined && { containerManager: info.containerManager }),
    ...(info.runtime !== undefined && { runtime: info.runtime }),
    ...(info.rootfsImageName !== undefined && { rootfsImageName: info.rootfsImageName }),
    ...(info.rootfsImageRef !== undefined && { rootfsImageRef: info.rootfsImageRef }),
  };
}

/** The manifest of a stored checkpoint: strategy `checkpoint`, its container, no etcd. */
function checkpointManifest(ctx: OpContext, run: BackupRun, stored: StoredArtifact, checkpoint: CheckpointFacts): Manifest {
  return {
    format: 1,
    id: run.id,
    cluster: ctx.config.cluster,
    strategy: 'checkpoint',
    createdAt: run.started.toISOString(),
    artifact: stored.artifact,
    contentType: CHECKPOINT_CONTENT_TYPE,
    ...manifestCodec(stored.codec),
    sha256: stored.sha256,
    sizeBytes: stored.sizeBytes,
    rawSizeBytes: stored.rawSizeBytes,
    checkpoint,
    tool: TOOL,
    durationMs: Date.now() - run.started.getTime(),
  };
}

/** Deletes the node's copy once stored; a failure is logged: the backup is complete, the node keeps a file. */
async function removeFromNode(dir: string, fileName: string, log: Logger): Promise<void> {
  try {
    const removed = await removeNodeArchive(dir, fileName);
    log.info({ file: fileName, removed }, removed ? 'node copy deleted' : 'node copy was already gone');
  } catch (err) {
    log.warn({ file: fileName, err: describeError(err) }, 'could not delete the node copy; it stays on the node');
  }
}
