import { accessSync, constants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/**
 * Why `path` cannot be looked at by this user, when a folder on its way may not be entered (k3s keeps its snapshots
 * under /var/lib/rancher/k3s/server, 0700 root, so a stat of a snapshot there fails with EACCES for anyone else, as if
 * the file were not there); undefined when every folder on the way can be entered, or the path does not exist.
 */
export function unreachablePath(path: string): string | undefined {
  if (path === '') return undefined;
  try {
    statSync(path);
    return undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EACCES') return undefined;
  }
  const who = thisUser();
  const closed = closedFolderOnWay(path);
  if (closed === undefined) return `it cannot be looked at by ${who} (permission denied)`;
  // The folder's own mode may not be ours to see either: named without it then.
  const owned = modeAndOwner(closed);
  const mode = owned === undefined ? '' : ` (${owned})`;
  return `the folder ${closed}${mode} cannot be entered by ${who}: run reshifter as its owner (root for k3s's snapshots, under /var/lib/rancher/k3s/server, 0700) or give ${who} access`;
}

/** `uid 65534`: this process's user, as messages name it (`this user` where there are no uids). */
export function thisUser(): string {
  const uid = process.getuid?.();
  return uid === undefined ? 'this user' : `uid ${uid}`;
}

/** `mode 0755, owner uid 0` of `path`, its mode as ls shows it; undefined when it cannot be looked at. */
export function modeAndOwner(path: string): string | undefined {
  try {
    return modeAndOwnerOf(statSync(path));
  } catch {
    return undefined;
  }
}

/** `mode 0755, owner uid 0` of what was looked at already. */
export function modeAndOwnerOf(s: { mode: number; uid: number }): string {
  return `mode ${(s.mode & 0o7777).toString(8).padStart(4, '0')}, owner uid ${s.uid}`;
}

/** The outermost folder on the way to `path` that this process may not enter, if any: the one a message names. */
export function closedFolderOnWay(path: string): string | undefined {
  const folders: string[] = [];
  for (let dir = dirname(resolve(path)); ; dir = dirname(dir)) {
    folders.unshift(dir);
    if (dirname(dir) === dir) break;
  }
  return folders.find((dir) => {
    try {
      accessSync(dir, constants.X_OK);
      return false;
    } catch {
      return true;
    }
  });
}
