import { lstat, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Manifest } from '../archive/manifest.js';
import { checkpointAnnotations, refNameProblem, writeOciImageArchive } from '../archive/oci-image.js';
import { describeBackup } from '../core/backup-kind.js';
import { ConfigError, OperationError } from '../core/errors.js';
import { unwritableFolder } from '../core/writable-path.js';
import { FileExistsError } from '../publish-new.js';
import type { BackupRepository } from '../store/backup-repository.js';
import type { OpContext } from './context.js';
import { encryptionKeys } from './encryption-keys.js';
import { openBackup } from './open-backup.js';

export interface ImageRestoreOptions {
  /** `--image-archive FILE`: where the oci-archive is written; must not exist yet. */
  path: string;
  /** `--image-name NAME`: the image's ref name in index.json (skopeo's `oci-archive:FILE:NAME`). */
  imageName?: string;
}

export interface ImageRestoreReport {
  id: string;
  /** `namespace/pod/container` the checkpoint is of. */
  container: string;
  path: string;
  imageName?: string;
  layerDigest: string;
  manifestDigest: string;
  bytes: number;
}

function existsAlready(path: string): ConfigError {
  return new ConfigError([`--image-archive: ${path} exists already; name a new file (it is never overwritten)`]);
}

/**
 * A stored container checkpoint as an OCI image archive (`restore <id> --image-archive FILE`): downloaded and checked
 * against its manifest, decoded, and streamed once into the image's only layer, which must hash to the archive's
 * sha256 the backup recorded; the manifest carries CRI-O's checkpoint annotation. The file appears only complete.
 */
export async function restoreImageArchive(ctx: OpContext, repo: BackupRepository, m: Manifest, opts: ImageRestoreOptions): Promise<ImageRestoreReport> {
  const c = m.checkpoint;
  if (c === undefined) throw new OperationError(`backup ${m.id} is a ${describeBackup(m)}, not a container checkpoint: only checkpoints become images`);
  const path = resolve(opts.path);
  if (opts.imageName !== undefined) {
    const problem = refNameProblem(opts.imageName);
    if (problem !== undefined) throw new ConfigError([`--image-name was invalid: ${JSON.stringify(opts.imageName)} ${problem}`]);
  }
  if (await lstat(path).then(() => true, () => false)) throw existsAlready(path);
  // Before the backup is read: a folder that is not there, or that this user may not write, failed only once the
  // checkpoint (often gigabytes) was downloaded and decoded.
  const folder = await stat(dirname(path)).catch(() => undefined);
  if (folder === undefined || !folder.isDirectory()) throw new ConfigError([`--image-archive: the folder ${dirname(path)} does not exist; create it or name a file in another one`]);
  const closed = unwritableFolder(dirname(path));
  if (closed !== undefined) throw new ConfigError([`--image-archive: the folder ${dirname(path)} ${closed}; name a file in a folder it can write`]);
  const keys = await encryptionKeys(ctx.config, { forReading: true });
  const backup = await openBackup(repo, m, keys, ctx.signal, { purpose: 'restore', log: ctx.log });
  try {
    if (backup.kind !== 'container checkpoint') throw new OperationError(`backup ${m.id} is not a container checkpoint`);
    const result = await writeOciImageArchive(
      path,
      backup.archive(),
      {
        layerSize: m.rawSizeBytes,
        layerDigest: c.archiveSha256,
        container: c.container,
        ...(opts.imageName !== undefined && { refName: opts.imageName }),
        created: new Date(c.checkpointedAt ?? m.createdAt),
        architecture: c.architecture,
        annotations: checkpointAnnotations({ ...c, engine: c.containerManager }),
      },
      ctx.signal,
    ).catch((err: unknown) => {
      // A file made there while the checkpoint was read (another restore, the operator's own): refused as above.
      throw err instanceof FileExistsError ? existsAlready(path) : err;
    });
    ctx.log.info({ id: m.id, path, layerDigest: result.layerDigest, bytes: result.bytes }, 'checkpoint written as an OCI image archive');
    return { id: m.id, container: `${c.namespace}/${c.pod}/${c.container}`, path, ...(opts.imageName !== undefined && { imageName: opts.imageName }), ...result };
  } finally {
    await backup.close();
  }
}
