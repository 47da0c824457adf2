import { rm } from 'node:fs/promises';
import { describeError, OperationError } from '../core/errors.js';
import { makeTempDir, trackTempPath } from '../exit-cleanup.js';
import type { SpillArea } from '../snapshot/index.js';

/**
 * Where a walk of a snapshot's keys writes the locations of more keys than it holds in memory: a fresh private folder
 * in the work area `workDir` (RS_TMP_DIR), removed when the walk ends, and at exit should a signal end the process
 * first. A work area that cannot take it is named.
 */
export function spillAreaIn(workDir: string): () => Promise<SpillArea> {
  return async () => {
    let dir: string;
    try {
      dir = await makeTempDir(workDir);
    } catch (err) {
      throw new OperationError(`cannot write the keys' locations in the work area ${workDir} (RS_TMP_DIR): ${describeError(err)}`, { cause: err });
    }
    const release = trackTempPath(dir);
    return { dir, remove: () => rm(dir, { recursive: true, force: true }).then(release) };
  };
}
