import { mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * `mkdir -p dir`, one level at a time: Node's recursive mkdir loops for ever, at full CPU and deaf to SIGTERM, where
 * mkdir fails with ENOENT under a parent that exists (`/proc/x/y`); this fails at once with mkdir's error, whose
 * `path` is the folder that could not be made.
 */
export async function makeDirs(dir: string, mode?: number): Promise<void> {
  const missing: string[] = [];
  for (let d = dir; !(await stat(d).then(() => true, () => false)); d = dirname(d)) {
    missing.unshift(d);
    if (dirname(d) === d) break;
  }
  for (const d of missing) {
    await mkdir(d, mode === undefined ? undefined : { mode }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
  }
}
