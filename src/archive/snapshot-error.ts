import { statSync } from 'node:fs';
import { IntegrityError, OperationError, abortedBySignal, describeError } from '../core/errors.js';
import { modeAndOwnerOf, thisUser } from '../core/unreachable-path.js';
import { SnapshotFormatError, SnapshotRevisionError } from '../snapshot/errors.js';

/** Converts the offline snapshot reader's errors into ours, naming what was read (`what`): a damaged file is an IntegrityError, a bad revision an OperationError. */
export function snapshotError(err: unknown, what: string): unknown {
  if (err instanceof SnapshotFormatError) return new IntegrityError('snapshot', `${what} is not a readable etcd snapshot: ${err.message}`, { cause: err });
  if (err instanceof SnapshotRevisionError) return new OperationError(`${what}: ${err.message}`, { cause: err });
  if (err instanceof OperationError) return err;
  const aborted = abortedBySignal(err, `reading ${what}`);
  if (aborted) return aborted;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EACCES') return new OperationError(`${what} cannot be read: ${describeError(err)}${deniedHint((err as NodeJS.ErrnoException).path)}`, { cause: err });
  if (typeof code === 'string') return new OperationError(`${what} cannot be read: ${describeError(err)}`, { cause: err });
  return err;
}


/**
 * What to do about a file this user may not read: its mode and owner, and to run as that owner (k3s writes its
 * snapshots 0600 root, under /var/lib/rancher/k3s/server/db/snapshots).
 */
function deniedHint(path: string | undefined): string {
  if (path === undefined) return '';
  try {
    const s = statSync(path);
    const who = thisUser();
    return ` (the file is ${modeAndOwnerOf(s)}): run reshifter as its owner (root for k3s's snapshots, which it writes 0600) or give ${who} read access`;
  } catch {
    return '';
  }
}
