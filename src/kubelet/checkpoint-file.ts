import { constants } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { OperationError } from '../core/errors.js';

/** A checkpoint archive the kubelet left on the node, opened for reading. */
export interface NodeArchive {
  path: string;
  size: number;
  stream: Readable;
}

const SAFE_FILE = /^checkpoint-[A-Za-z0-9._:+_-]+\.tar$/;

function checkName(fileName: string): void {
  // parseCheckpointReply gives only such names; checked again where the file system is touched.
  if (!SAFE_FILE.test(fileName) || fileName.includes('..')) throw new OperationError(`refusing checkpoint archive name ${JSON.stringify(fileName.slice(0, 120))}`);
}

/**
 * Opens `fileName` in `dir` (RS_CHECKPOINT_DIR: where this process sees the kubelet's checkpoint folder, a hostPath)
 * without following a symbolic link, and checks it is a regular file. The size is taken from the open file, so the
 * stream and the size agree.
 */
export async function openNodeArchive(dir: string, fileName: string): Promise<NodeArchive> {
  checkName(fileName);
  const path = join(dir, fileName);
  let fh;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new OperationError(`the kubelet wrote ${fileName}, but RS_CHECKPOINT_DIR (${dir}) holds no such file: RS_CHECKPOINT_DIR must be the node's kubelet checkpoint folder (/var/lib/kubelet/checkpoints) mounted as a hostPath`, { cause: err });
    }
    if (code === 'ELOOP') throw new OperationError(`${path} is a symbolic link; a checkpoint archive is a regular file, so it is not followed`, { cause: err });
    if (code === 'EACCES') throw new OperationError(`${path} cannot be read: checkpoint archives are root's (mode 0600), so this must run as root on the node`, { cause: err });
    throw new OperationError(`${path} cannot be opened: ${(err as Error).message}`, { cause: err });
  }
  const st = await fh.stat();
  if (!st.isFile()) {
    await fh.close();
    throw new OperationError(`${path} is not a regular file`);
  }
  return { path, size: st.size, stream: fh.createReadStream({ highWaterMark: 1024 * 1024 }) };
}

/** Deletes the node's copy once it is stored (RS_CHECKPOINT_KEEP_LOCAL=false); false when it was already gone. */
export async function removeNodeArchive(dir: string, fileName: string): Promise<boolean> {
  checkName(fileName);
  try {
    await unlink(join(dir, fileName));
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new OperationError(`could not delete ${join(dir, fileName)} from the node: ${(err as Error).message}`, { cause: err });
  }
}
