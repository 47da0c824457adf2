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
  const uid = process.getuid?.();
  const who = uid === undefined ? 'this user' : `uid ${uid}`;
  // The outermost folder this user may not enter: the one to name.
  const folders: string[] = [];
  for (let dir = dirname(resolve(path)); ; dir = dirname(dir)) {
    folders.unshift(dir);
    if (dirname(dir) === dir) break;
  }
  const closed = folders.find((dir) => {
    try {
      accessSync(dir, constants.X_OK);
      return false;
    } catch {
      return true;
    }
  });
  if (closed === undefined) return `it cannot be looked at by ${who} (permission denied)`;
  let mode = '';
  try {
    const s = statSync(closed);
    mode = ` (mode ${(s.mode & 0o7777).toString(8).padStart(4, '0')}, owner uid ${s.uid})`;
  } catch {
    // The folder's own mode is not ours to see either: named without it.
  }
  return `the folder ${closed}${mode} cannot be entered by ${who}: run reshifter as its owner (root for k3s's snapshots, under /var/lib/rancher/k3s/server, 0700) or give ${who} access`;
}
