import { stat } from 'node:fs/promises';
import { assertDecodable, copyVerified } from '../archive/local-copy.js';
import type { Manifest } from '../archive/manifest.js';
import { decodeSnapshotCopy } from '../archive/snapshot-file.js';
import { IntegrityError, OperationError, describeError } from '../core/errors.js';
import { openSnapshot, SnapshotFormatError, SnapshotRevisionError, type SnapshotReader } from '../snapshot/index.js';
import type { BackupRepository } from '../store/backup-repository.js';
import type { CommandContext } from './context.js';
import { codecKeys } from './keys.js';
import { openRepository } from './shared.js';

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
 * Opens a stored snapshot backup: downloads it into a private temporary folder (checked against the manifest),
 * decodes it to a 0600 file there, and opens that. Throws for a backup that is not a snapshot.
 */
export async function openSnapshotBackup(ctx: CommandContext, repo: BackupRepository, m: Manifest): Promise<SnapshotInput> {
  if (m.contentType !== 'etcd-snapshot') {
    throw new OperationError(`backup ${m.id} is a ${m.strategy} backup (${m.contentType}), not an etcd snapshot`);
  }
  const keys = await codecKeys(ctx.config, { forReading: true });
  assertDecodable(m, keys);
  const copy = await copyVerified(await repo.openArtifact(m, ctx.signal), m, ctx.signal);
  try {
    // The trailer is left to the reader, which reports its state (inspect) or checks it (verify).
    const db = await decodeSnapshotCopy(copy, keys, { checkTrailer: false, signal: ctx.signal });
    const reader = await openSnapshot(db);
    return {
      reader,
      origin: { kind: 'backup', id: m.id, strategy: m.strategy, revision: m.etcd.revision },
      async close() {
        await reader.close().catch(() => undefined);
        await copy.remove();
      },
    };
  } catch (err) {
    await copy.remove();
    throw snapshotError(err, `backup ${m.id}`);
  }
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
  const repo = openRepository(ctx.config);
  try {
    return await openSnapshotBackup(ctx, repo, await repo.get(target));
  } finally {
    await repo.store.close();
  }
}
