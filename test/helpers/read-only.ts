import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A read-only view of a folder; `release` undoes it. */
export interface ReadOnlyView {
  path: string;
  release(): Promise<void>;
}

/** Sets the write bits of `dir` and everything under it (on) or clears them (off). */
async function writable(dir: string, on: boolean): Promise<void> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.isDirectory()) await writable(join(dir, e.name), on);
    else await chmod(join(dir, e.name), on ? 0o600 : 0o400);
  }
  await chmod(dir, on ? 0o700 : 0o500);
}

/**
 * `dir` as a process of this user sees a volume mounted read-only: for root (whom file modes do not stop) a read-only
 * bind mount, which fails every write with EROFS, as in a recovery from a backup volume mounted `readOnly: true`; for
 * anyone else the folder with its write bits cleared. Undefined when root may not mount here (then a test skips).
 */
export async function readOnlyView(dir: string): Promise<ReadOnlyView | undefined> {
  if (process.getuid?.() !== 0) {
    await writable(dir, false);
    return { path: dir, release: () => writable(dir, true) };
  }
  const mountPoint = await mkdtemp(join(tmpdir(), 'rs-ro-'));
  try {
    await run('mount', ['--bind', dir, mountPoint]);
  } catch {
    await rm(mountPoint, { recursive: true, force: true });
    return undefined;
  }
  const release = async () => {
    await run('umount', [mountPoint]);
    await rm(mountPoint, { recursive: true, force: true });
  };
  try {
    await run('mount', ['-o', 'remount,ro,bind', mountPoint]);
  } catch {
    await release();
    return undefined;
  }
  return { path: mountPoint, release };
}
