import { readdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { etcdOf, type Manifest } from '../archive/manifest.js';
import { ConfigError, OperationError } from '../core/errors.js';
import { memberFlagProblems } from '../core/member-flags.js';
import { sourceMembersWarning } from '../core/source-members-warning.js';
import { uncreatableFolder, unwritableFolder } from '../core/writable-path.js';
import { findRestoreTool, runSnapshotRestore, type RestoreTool, type SnapshotRestoreOptions } from '../etcd/snapshot-restore-tool.js';
import type { Logger } from '../log.js';
import type { BackupRepository } from '../store/backup-repository.js';
import type { OpContext } from './context.js';
import { encryptionKeys } from './encryption-keys.js';
import { openBackup } from './open-backup.js';

export interface SnapshotRestoreReport {
  id: string;
  dataDir: string;
  revision: number;
  tool: RestoreTool;
  /** Said when the backup is of several members and is restored as one (core/source-members-warning.ts). */
  warning?: string;
}

/**
 * Before any download: the member flags as `snapshot restore` will take them (a --name missing from --initial-cluster
 * would otherwise fail only once the backup is downloaded and decoded), then the data directory, which etcd restores
 * into as a new one; an empty one (a fresh volume, often a mount point) is fine and is left as it is until the
 * restore fills it (runSnapshotRestore).
 */
export async function prepareDataDir(dir: string, flags: SnapshotRestoreOptions): Promise<void> {
  const problems = memberFlagProblems(flags);
  if (problems.length > 0) throw new ConfigError(problems);
  let entries: string[];
  // The restore writes beside DIR (or inside it, when it exists empty): a folder it may not write fails it only once
  // the backup is downloaded and decoded, after minutes for a big one (a non-root user under root's /var/lib).
  const writable = `: restore as a user who may write there (root, on the etcd host), or name a folder it can write`;
  try {
    entries = await readdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? uncreatableFolder(dir) : undefined;
    if (why !== undefined) throw new ConfigError([`--data-dir "${dir}" cannot be created: ${why}${writable}`]);
    if (code === 'ENOENT') return;
    throw new ConfigError([`--data-dir "${dir}" cannot be used: ${code === 'ENOTDIR' ? 'it is a file' : (err as Error).message}`]);
  }
  if (entries.length > 0) throw new ConfigError([`--data-dir "${dir}" exists and is not empty; a snapshot restores into a new directory`]);
  const why = unwritableFolder(dir);
  if (why !== undefined) throw new ConfigError([`--data-dir "${dir}" ${why}${writable}`]);
}

/**
 * Warns, before the download, when a snapshot of several members is restored as a single member (no
 * --initial-cluster): on stderr through the log, and returned for the command's output.
 */
export function warnOfSourceMembers(log: Logger, m: Manifest, opts: SnapshotRestoreOptions): string | undefined {
  const members = m.etcd?.members;
  const warning = sourceMembersWarning(members, opts);
  if (warning === undefined) return undefined;
  log.warn(
    { id: m.id, sourceMembers: members!.map((s) => s.name), fix: warning },
    'a snapshot of several members is restored as a single member: give --name, --initial-cluster and --initial-advertise-peer-urls for each member',
  );
  return warning;
}

/**
 * Restores an etcd snapshot backup into a new data directory with the installed `etcdutl` (or etcdctl 3.4): the tool
 * is looked for first, the stored bytes are downloaded and checked against the manifest, decoded with etcd's sha256
 * trailer checked, and only then handed to `snapshot restore`.
 */
export async function restoreDataDir(ctx: OpContext, repo: BackupRepository, m: Manifest, opts: SnapshotRestoreOptions): Promise<SnapshotRestoreReport> {
  const log = ctx.log.child({ component: 'restore', backupId: m.id });
  const tool = await findRestoreTool();
  const dataDir = resolve(opts.dataDir);
  await prepareDataDir(dataDir, opts);
  const warning = warnOfSourceMembers(log, m, opts);
  const keys = await encryptionKeys(ctx.config, { forReading: true });
  const backup = await openBackup(repo, m, keys, ctx.signal, { purpose: 'restore', log: ctx.log });
  try {
    if (backup.kind !== 'snapshot') throw new OperationError(`backup ${m.id} is a ${m.strategy} backup (${m.contentType}), not an etcd snapshot`);
    log.info({ id: m.id, sizeBytes: m.sizeBytes, sha256: m.sha256 }, 'backup downloaded and verified');
    await runSnapshotRestore(tool, backup.file, { ...opts, dataDir }, ctx.signal, { log, total: m.rawSizeBytes });
    log.info({ dataDir, tool: tool.command, revision: etcdOf(m).revision }, 'snapshot restored');
    return { id: m.id, dataDir, revision: etcdOf(m).revision, tool, ...(warning !== undefined && { warning }) };
  } finally {
    await backup.close();
  }
}
