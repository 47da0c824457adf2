import { accessSync, constants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** `by uid 65534 (mode 0755, owner uid 0)`: who this process is, against a folder it may not write. */
export function whoAndMode(path: string): string {
  const uid = process.getuid?.();
  const who = `by ${uid === undefined ? 'this user' : `uid ${uid}`}`;
  try {
    const s = statSync(path);
    return `${who} (mode ${(s.mode & 0o7777).toString(8).padStart(4, '0')}, owner uid ${s.uid})`;
  } catch {
    return who;
  }
}

/** `cannot be written by uid 65534 (mode 0755, owner uid 0)`, or `cannot be written: its file system is read-only`. */
function cannotWrite(path: string, err: unknown): string {
  return (err as NodeJS.ErrnoException).code === 'EROFS' ? 'cannot be written: its file system is read-only' : `cannot be written ${whoAndMode(path)}`;
}

/** Why this process may not make files in the existing folder `path` (see cannotWrite), or undefined when it may. */
export function unwritableFolder(path: string): string | undefined {
  try {
    accessSync(path, constants.W_OK | constants.X_OK);
    return undefined;
  } catch (err) {
    return cannotWrite(path, err);
  }
}

/**
 * Why the folder `path`, which does not exist, cannot be made with the folders missing above it: the nearest path
 * above it that exists is no folder, or one this process may not write (a non-root user under a root-owned folder,
 * a read-only file system): `the folder above it that exists, /var/lib, cannot be written by uid 65534 (...)`.
 * Undefined when it can be made, or when `path` exists (what it is, is the caller's to check).
 */
export function uncreatableFolder(path: string): string | undefined {
  let above = resolve(path);
  let st;
  while (st === undefined) {
    try {
      st = statSync(above);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(above) === above) return undefined;
      above = dirname(above);
    }
  }
  if (above === resolve(path)) return undefined;
  if (!st.isDirectory()) return `${above} is not a directory`;
  const why = unwritableFolder(above);
  return why === undefined ? undefined : `the folder above it that exists, ${above}, ${why}`;
}
