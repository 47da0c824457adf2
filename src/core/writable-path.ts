import { accessSync, constants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { closedFolderOnWay, modeAndOwner, modeAndOwnerOf, thisUser } from './unreachable-path.js';

/** `by uid 65534 (mode 0755, owner uid 0)`: who this process is, against a folder it may not write. */
export function whoAndMode(path: string): string {
  const mode = modeAndOwner(path);
  return `by ${thisUser()}${mode === undefined ? '' : ` (${mode})`}`;
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

/**
 * Why this process was refused `path` (EACCES), for a message: the folder on its way this user may not enter, or the
 * path itself, with its mode and owner against this uid, and to run as that owner: the local store keeps its folders
 * 0700 and files 0600 (`: the folder /backups/prod is mode 0700, owner uid 0, and this is uid 65534: run reshifter as
 * uid 0, ...`). Empty when nothing more can be told.
 */
export function deniedDetail(path: string | undefined): string {
  const uid = process.getuid?.();
  if (path === undefined || uid === undefined) return '';
  const denied = closedFolderOnWay(path) ?? resolve(path);
  try {
    const s = statSync(denied);
    if (s.uid === uid) return '';
    return `: ${s.isDirectory() ? 'the folder' : 'the file'} ${denied} is ${modeAndOwnerOf(s)}, and this is uid ${uid}: run reshifter as uid ${s.uid}, as the backups were written (reshifter keeps the store's folders 0700 and files 0600)`;
  } catch {
    return '';
  }
}
