import { assertDecodable, copyVerified } from '../archive/local-copy.js';
import type { Manifest } from '../archive/manifest.js';
import { decodeSnapshotCopy } from '../archive/snapshot-file.js';
import { OperationError } from '../core/errors.js';
import { openSnapshot } from '../snapshot/index.js';
import type { BackupRepository } from '../store/backup-repository.js';
import type { CommandContext } from './context.js';
import { codecKeys } from './keys.js';
import { snapshotError } from '../archive/snapshot-error.js';
import type { SnapshotInput } from './snapshot-input.js';

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
