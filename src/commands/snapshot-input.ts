import { stat } from 'node:fs/promises';
import { IntegrityError, OperationError, describeError } from '../core/errors.js';
import { openSnapshot, SnapshotFormatError, SnapshotRevisionError, type SnapshotReader } from '../snapshot/index.js';
import type { CommandContext } from './context.js';

/** Where an opened snapshot came from. */
export type SnapshotOrigin = { kind: 'file'; path: string } | { kind: 'backup'; id: string; strategy: string; revision: number };

/** A snapshot open for offline reading; `close` also deletes a decoded temporary copy. */
export interface SnapshotInput {
  reader: SnapshotReader;
  origin: SnapshotOrigin;
  close(): Promise<void>;
}

/** Converts the reader's errors into ours once, here: a damaged file is an IntegrityError, a bad revision an OperationError. */
export function snapshotError(err: unknown, what: string): unknown {
  if (err instanceof SnapshotFormatError) return new IntegrityError('snapshot', `${what} is not a readable etcd snapshot: ${err.message}`, { cause: err });
  if (err instanceof SnapshotRevisionError) return new OperationError(`${what}: ${err.message}`, { cause: err });
  if (err instanceof OperationError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string') return new OperationError(`${what} cannot be read: ${describeError(err)}`, { cause: err });
  return err;
}

async function isFile(path: string): Promise<boolean> {
  return stat(path).then((s) => s.isFile(), () => false);
}

/**
 * Opens `target`: a path that exists as a file is read in place (a snapshot with or without etcd's trailer, or a
 * raw member/snap/db); anything else is a backup id (or `latest`) in the configured store.
 */
export async function openSnapshotInput(ctx: CommandContext, target: string): Promise<SnapshotInput> {
  if (await isFile(target)) {
    try {
      const reader = await openSnapshot(target);
      return { reader, origin: { kind: 'file', path: target }, close: () => reader.close() };
    } catch (err) {
      throw snapshotError(err, target);
    }
  }
  // Loaded only for a backup: the store, its SDKs and the codecs cost more to load than a status of a file takes.
  const [{ openRepository }, { openSnapshotBackup }] = await Promise.all([import('./shared.js'), import('./snapshot-backup.js')]);
  const repo = openRepository(ctx.config);
  try {
    return await openSnapshotBackup(ctx, repo, await repo.get(target));
  } finally {
    await repo.store.close();
  }
}
