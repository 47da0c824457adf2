import { IntegrityError, OperationError, abortedBySignal, describeError } from '../core/errors.js';
import { SnapshotFormatError, SnapshotRevisionError } from '../snapshot/errors.js';

/** Converts the offline snapshot reader's errors into ours, naming what was read (`what`): a damaged file is an IntegrityError, a bad revision an OperationError. */
export function snapshotError(err: unknown, what: string): unknown {
  if (err instanceof SnapshotFormatError) return new IntegrityError('snapshot', `${what} is not a readable etcd snapshot: ${err.message}`, { cause: err });
  if (err instanceof SnapshotRevisionError) return new OperationError(`${what}: ${err.message}`, { cause: err });
  if (err instanceof OperationError) return err;
  const aborted = abortedBySignal(err, `reading ${what}`);
  if (aborted) return aborted;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string') return new OperationError(`${what} cannot be read: ${describeError(err)}`, { cause: err });
  return err;
}

