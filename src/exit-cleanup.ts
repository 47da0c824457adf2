import { rmSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { unwritableFolder } from './core/writable-path.js';

/**
 * What must not outlive the process: temporary files and folders, and cleanups still under way (the abort of a
 * multipart upload). Code that makes a temporary path registers it here and releases it once it is gone; whatever is
 * still registered when the process exits (a second signal, the safety timer in cli-main.ts, any process.exit) is
 * removed synchronously by the 'exit' hook. Only SIGKILL can leave one behind: makeTempDir's sweep removes those.
 */
const tempPaths = new Set<string>();
const pending = new Set<Promise<unknown>>();
let hooked = false;

function removeAllSync(): void {
  for (const path of tempPaths) {
    try {
      rmSync(path, { recursive: true, force: true });
    } catch {
      // Exiting: there is no one left to tell, and the other paths must still go.
    }
  }
  tempPaths.clear();
}

/** Registers a temporary file or folder; call the returned function once it has been removed or renamed into place. */
export function trackTempPath(path: string): () => void {
  if (!hooked) {
    hooked = true;
    process.on('exit', removeAllSync);
  }
  tempPaths.add(path);
  return () => {
    tempPaths.delete(path);
  };
}

/** Registers a cleanup under way, so that an exit waits for it (see `settleCleanups`). Returns the same promise. */
export function trackCleanup<T>(p: Promise<T>): Promise<T> {
  pending.add(p);
  const done = () => pending.delete(p);
  p.then(done, done);
  return p;
}

/** Waits for the cleanups under way, at most `timeoutMs`; never throws. */
export async function settleCleanups(timeoutMs: number): Promise<void> {
  if (pending.size === 0) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.allSettled([...pending]),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    }),
  ]);
  clearTimeout(timer);
}

/** The name of this process's temporary folders: the host and pid tell a later run whether their owner still lives. */
const HOST = hostname().replace(/[^A-Za-z0-9.]/g, '_');
const TEMP_PREFIX = `reshifter-${HOST}-${process.pid}-`;
/** A temporary folder of ours: `reshifter-<host>-<pid>-<6 characters of mkdtemp>`. */
const TEMP_NAME = /^reshifter-([A-Za-z0-9._]+)-(\d+)-[A-Za-z0-9]{6}$/;
const swept = new Set<string>();

/**
 * A fresh private (0700) temporary folder in `workDir` for staging a backup (decrypted and decompressed: it may hold
 * Secrets); the caller tracks it (trackTempPath) and removes it. The first one a process makes in a work area also
 * removes what processes of this host that were killed outright (SIGKILL, the OOM killer: no exit hook ran) left
 * there: a folder whose pid no longer runs. Folders of other hosts (a work area shared by pods) are never touched.
 */
export async function makeTempDir(workDir: string): Promise<string> {
  if (!swept.has(workDir)) {
    swept.add(workDir);
    await sweepOrphans(workDir);
  }
  return mkdtemp(join(workDir, TEMP_PREFIX)).catch((err: NodeJS.ErrnoException) => {
    // The system's /tmp of a pod with a read-only root file system (RS_TMP_DIR unset), or a folder this user may not
    // write: said with what to do, rather than as mkdtemp's EROFS of a name the operator never gave.
    const why = err.code === 'EACCES' || err.code === 'EROFS' ? unwritableFolder(workDir) : undefined;
    if (why === undefined) throw err;
    throw new Error(`${workDir} ${why}: set RS_TMP_DIR to a folder this user can write (in a pod whose root file system is read-only, an emptyDir mounted there)`, { cause: err });
  });
}

async function sweepOrphans(workDir: string): Promise<void> {
  const names = await readdir(workDir).catch(() => [] as string[]);
  for (const name of names) {
    const m = TEMP_NAME.exec(name);
    if (!m || m[1] !== HOST || Number(m[2]) === process.pid || isRunning(Number(m[2]))) continue;
    const path = join(workDir, name);
    await rm(path, { recursive: true, force: true }).catch(() => undefined);
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
