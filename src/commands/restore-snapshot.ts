import { createWriteStream } from 'node:fs';
import { readdir, rmdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { assertDecodable, copyVerified } from '../archive/local-copy.js';
import type { Manifest } from '../archive/manifest.js';
import { SnapshotTrailerCheck } from '../archive/snapshot-trailer.js';
import { ConfigError } from '../core/errors.js';
import { findRestoreTool, runSnapshotRestore, type RestoreTool, type SnapshotRestoreOptions } from '../etcd/snapshot-restore-tool.js';
import type { BackupRepository } from '../store/backup-repository.js';
import type { CommandContext } from './context.js';
import { codecKeys } from './keys.js';

export interface SnapshotRestoreReport {
  id: string;
  dataDir: string;
  revision: number;
  tool: RestoreTool;
}

/** etcd restores into a new directory; an empty one (a fresh volume) is fine and is removed first. */
async function prepareDataDir(dir: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    throw new ConfigError([`--data-dir "${dir}" cannot be used: ${code === 'ENOTDIR' ? 'it is a file' : (err as Error).message}`]);
  }
  if (entries.length > 0) throw new ConfigError([`--data-dir "${dir}" exists and is not empty; a snapshot restores into a new directory`]);
  await rmdir(dir);
}

/**
 * Restores an etcd snapshot backup into a new data directory with the installed `etcdutl` (or etcdctl 3.4): the tool
 * is looked for first, the stored bytes are downloaded and checked against the manifest, decoded with etcd's sha256
 * trailer checked, and only then handed to `snapshot restore`.
 */
export async function restoreSnapshot(ctx: CommandContext, repo: BackupRepository, m: Manifest, opts: SnapshotRestoreOptions): Promise<SnapshotRestoreReport> {
  const log = ctx.log.child({ component: 'restore', backupId: m.id });
  const tool = await findRestoreTool();
  const dataDir = resolve(opts.dataDir);
  await prepareDataDir(dataDir);
  const keys = await codecKeys(ctx.config, { forReading: true });
  assertDecodable(m, keys);
  const copy = await copyVerified(await repo.openArtifact(m, ctx.signal), m, ctx.signal);
  try {
    log.info({ id: m.id, sizeBytes: m.sizeBytes, sha256: m.sha256 }, 'backup downloaded and verified');
    const db = join(copy.dir, 'snapshot.db');
    await pipeline(copy.open(keys), new SnapshotTrailerCheck(), createWriteStream(db, { mode: 0o600, flags: 'wx' }), { signal: ctx.signal });
    await runSnapshotRestore(tool, db, { ...opts, dataDir });
    log.info({ dataDir, tool: tool.command, revision: m.etcd.revision }, 'snapshot restored');
    return { id: m.id, dataDir, revision: m.etcd.revision, tool };
  } finally {
    await copy.remove();
  }
}
