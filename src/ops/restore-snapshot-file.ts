import { lstat, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { etcdOf, type Manifest } from '../archive/manifest.js';
import { snapshotError } from '../archive/snapshot-error.js';
import { ConfigError, IntegrityError, OperationError } from '../core/errors.js';
import { printable } from '../core/printable.js';
import { unwritableFolder } from '../core/writable-path.js';
import type { BackupRepository } from '../store/backup-repository.js';
import { ExistsError, LocalStore } from '../store/local-store.js';
import type { OpContext } from './context.js';
import { encryptionKeys } from './encryption-keys.js';
import { openBackup } from './open-backup.js';
import { openSnapshotInput } from './open-snapshot.js';

export interface SnapshotFileReport {
  id: string;
  /** The file written: etcd's snapshot file as `etcdctl snapshot save` writes it (bbolt database and sha256 trailer). */
  file: string;
  revision: number;
  bytes: number;
}

function existsAlready(path: string): ConfigError {
  return new ConfigError([`--snapshot-file: ${path} exists already; name a new file (it is never overwritten)`]);
}

/**
 * Before any download: `--snapshot-file FILE` names a new file (never overwritten) in a folder that exists, so a
 * wrong path fails at once rather than after the backup is downloaded and decoded.
 */
async function checkTarget(path: string, id: string): Promise<void> {
  const there = await lstat(path).catch(() => undefined);
  if (there?.isDirectory()) throw new ConfigError([`--snapshot-file: ${path} is a folder; name a new file in it, such as ${join(path, `reshifter-${id}.db`)}`]);
  if (there !== undefined) throw existsAlready(path);
  const folder = await stat(dirname(path)).catch(() => undefined);
  if (folder === undefined || !folder.isDirectory()) throw new ConfigError([`--snapshot-file: the folder ${dirname(path)} does not exist; create it or name a file in another one`]);
  const why = unwritableFolder(dirname(path));
  if (why !== undefined) throw new ConfigError([`--snapshot-file: the folder ${dirname(path)} ${why}; name a file in a folder it can write`]);
}

/**
 * A snapshot backup as the plain snapshot file etcd's tools take (`restore <id> --snapshot-file FILE`): downloaded
 * and checked against its manifest, decrypted and decompressed with etcd's sha256 trailer checked, then written as a
 * new file (0600) that appears only complete. What `k3s server --cluster-reset --cluster-reset-restore-path=FILE`
 * and `etcdutl snapshot restore FILE` restore from.
 */
export async function restoreSnapshotFile(ctx: OpContext, repo: BackupRepository, m: Manifest, target: string): Promise<SnapshotFileReport> {
  const file = resolve(target);
  await checkTarget(file, m.id);
  const keys = await encryptionKeys(ctx.config, { forReading: true });
  const backup = await openBackup(repo, m, keys, ctx.signal, { purpose: 'restore', log: ctx.log });
  try {
    if (backup.kind !== 'snapshot') throw new OperationError(`backup ${m.id} is a ${m.strategy} backup (${m.contentType}), not an etcd snapshot`);
    await writeNew(ctx, file, backup.file);
    const bytes = (await stat(file)).size;
    ctx.log.info({ id: m.id, file, bytes, revision: etcdOf(m).revision }, 'snapshot file written');
    return { id: m.id, file, revision: etcdOf(m).revision, bytes };
  } finally {
    await backup.close();
  }
}

/**
 * Copies `source` to the new file `file` as a local store puts an artifact: through one reused buffer (a large file
 * costs no more memory than a small one), under a temporary name beside it (removed on failure, and by the exit hook
 * on a second signal), fsynced, linked without replacing (a file made there meanwhile is refused as checkTarget
 * refuses it, never overwritten), the folder fsynced: the file appears only complete.
 */
async function writeNew(ctx: OpContext, file: string, source: string): Promise<void> {
  await new LocalStore(dirname(file)).putFile(basename(file), source, { noClobber: true, ...(ctx.signal && { signal: ctx.signal }) }).catch((err: unknown) => {
    throw err instanceof ExistsError ? existsAlready(file) : err;
  });
}

/**
 * A snapshot file on this machine (`restore FILE --snapshot-file OUT`), as the plain snapshot file etcd's tools take:
 * a k3s `--compress` zip, a gzip, zstd or age file decoded in the work area first (a plain one read as it is), its
 * status read and etcd's sha256 trailer checked, then written as `restoreSnapshotFile` writes a backup's. A file whose
 * trailer does not match, or that has none (a member's db, not what `etcdctl snapshot save` writes), is refused:
 * nothing written.
 */
export async function snapshotFileOfFile(ctx: OpContext, path: string, target: string): Promise<SnapshotFileReport> {
  const file = resolve(target);
  const name = printable(path);
  await checkTarget(file, basename(path).replace(/\.zip$/, ''));
  const input = await openSnapshotInput(ctx, path, undefined, 'restore');
  try {
    const status = await input.reader.status().catch((err: unknown) => Promise.reject(snapshotError(err, name)));
    if (status.trailer === 'mismatch') throw new IntegrityError('snapshot', `${name}: etcd's sha256 trailer does not match the data (the file was changed or damaged); ${file} was not written`);
    if (status.trailer === 'absent') {
      throw new OperationError(`${name} has no sha256 trailer: it is a member's db file, not a snapshot "etcdctl snapshot save" wrote, and k3s and etcdutl refuse it without --skip-hash-check; ${file} was not written`);
    }
    await writeNew(ctx, file, input.reader.path);
    const bytes = (await stat(file)).size;
    ctx.log.info({ file, from: name, bytes, revision: status.revision }, 'snapshot file written');
    return { id: path, file, revision: status.revision, bytes };
  } finally {
    await input.close();
  }
}
