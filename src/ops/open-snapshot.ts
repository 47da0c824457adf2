import { stat } from 'node:fs/promises';
import { snapshotError } from '../archive/snapshot-error.js';
import { SNAPSHOT_CONTENT_TYPE } from '../core/content-type.js';
import { openSnapshot, type SnapshotReader } from '../snapshot/index.js';
import type { OpContext } from './context.js';

/** Where an opened snapshot came from. */
export type SnapshotOrigin = { kind: 'file'; path: string } | { kind: 'backup'; id: string; strategy: string; revision: number };

/** A snapshot open for offline reading; `close` also deletes a decoded temporary copy. */
export interface SnapshotInput {
  reader: SnapshotReader;
  origin: SnapshotOrigin;
  close(): Promise<void>;
}

async function isFile(path: string): Promise<boolean> {
  return stat(path).then((s) => s.isFile(), () => false);
}

/**
 * Opens `target` for `inspect`: a path that exists as a file is read in place (a snapshot with or without etcd's
 * trailer, or a raw member/snap/db); anything else is a backup id in the configured store, or `latest`: the newest
 * snapshot backup (of `series`, asked for only when `target` is not a file). A backup is downloaded, checked and
 * decoded to a private temporary file; its trailer is left to the reader, which reports its state.
 */
export async function openSnapshotInput(ctx: OpContext, target: string, series: () => string | undefined = () => undefined): Promise<SnapshotInput> {
  if (await isFile(target)) {
    try {
      const reader = await openSnapshot(target);
      return { reader, origin: { kind: 'file', path: target }, close: () => reader.close() };
    } catch (err) {
      throw snapshotError(err, target);
    }
  }
  // Loaded only for a backup: the store, its SDKs and the codecs cost more to load than a status of a file takes.
  const [{ openRepository }, { openBackup }, { USES }, { encryptionKeys }, { OperationError }] = await Promise.all([
    import('./repository.js'),
    import('./open-backup.js'),
    import('../core/latest.js'),
    import('./encryption-keys.js'),
    import('../core/errors.js'),
  ]);
  const repo = openRepository(ctx.config, ctx.log);
  try {
    const m = await repo.get(target, USES.inspect, series());
    if (m.contentType !== SNAPSHOT_CONTENT_TYPE) {
      throw new OperationError(`backup ${m.id} is a ${m.strategy} backup (${m.contentType}), not an etcd snapshot`);
    }
    const backup = await openBackup(repo, m, await encryptionKeys(ctx.config, { forReading: true }), ctx.signal, { checkTrailer: false });
    if (backup.kind !== 'snapshot') throw new OperationError(`backup ${m.id} is not an etcd snapshot`);
    try {
      const reader = await backup.reader();
      return { reader, origin: { kind: 'backup', id: m.id, strategy: m.strategy, revision: m.etcd.revision }, close: () => backup.close() };
    } catch (err) {
      await backup.close();
      throw err;
    }
  } finally {
    await repo.store.close();
  }
}
