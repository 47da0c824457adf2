import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { AbortedError, OperationError, describeError } from '../core/errors.js';
import { trackTempPath } from '../exit-cleanup.js';
import type { Logger } from '../log.js';
import { makeDirs } from '../make-dirs.js';
import { formatBytes, reportProgress } from '../progress.js';

/** The installed tool that turns a snapshot into a data directory. */
export interface RestoreTool {
  command: 'etcdutl' | 'etcdctl';
  version: string;
}

/** Flags of `snapshot restore` that name the restored member and its cluster. */
export interface SnapshotRestoreOptions {
  dataDir: string;
  name?: string;
  initialCluster?: string;
  initialAdvertisePeerUrls?: string;
  initialClusterToken?: string;
}

/**
 * Runs a tool to its end. In a process group of its own: a Ctrl-C in the terminal reaches reshifter, which stops it
 * through `signal`, rather than reaching the tool too and killing it behind reshifter's back.
 */
function run(command: string, args: string[], timeoutMs = 0, signal?: AbortSignal): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const opts = { env: { ...process.env, ETCDCTL_API: '3' }, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, detached: true, ...(signal && { signal }) };
    execFile(command, args, opts, (err, stdout, stderr) => {
      if (err) reject(Object.assign(err, { stdout, stderr }));
      else resolve({ stdout, stderr });
    });
  });
}

async function versionOf(command: string): Promise<string | undefined> {
  try {
    const { stdout } = await run(command, ['version'], 10_000);
    return /version:\s*(\d+\.\d+\.\d+)/.exec(stdout)?.[1] ?? 'unknown';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return 'unknown';
  }
}

/**
 * `etcdutl` (etcd 3.5+) when installed, else `etcdctl` if it still has `snapshot restore` (3.4 and 3.5; 3.6 removed
 * it). Throws an OperationError saying what to install when neither is there.
 */
export async function findRestoreTool(): Promise<RestoreTool> {
  const etcdutl = await versionOf('etcdutl');
  if (etcdutl !== undefined) return { command: 'etcdutl', version: etcdutl };
  const etcdctl = await versionOf('etcdctl');
  if (etcdctl !== undefined) {
    const [major, minor] = etcdctl.split('.').map(Number);
    if (etcdctl === 'unknown' || major! < 3 || (major === 3 && minor! < 6)) return { command: 'etcdctl', version: etcdctl };
  }
  throw new OperationError(
    'restoring a snapshot needs etcdutl (etcd 3.5+) or etcdctl 3.4/3.5 on PATH, and neither was found' +
      `${etcdctl !== undefined ? ` (etcdctl ${etcdctl} has no "snapshot restore")` : ''}: install etcd's client tools, e.g. "apt-get install etcd-client"`,
  );
}

/** Where a snapshot restore reports its progress: the bytes of the database the tool has written, of `total`. */
export interface RestoreProgress {
  log: Logger;
  total: number;
}

/** The size of the file at `path`; 0 while it does not exist. */
function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/**
 * Runs `<tool> snapshot restore FILE --data-dir DIR ...`; fails with the tool's own words. The tool writes the data
 * directory in place, so stopped half-way (a signal, a full disk) it would leave `member/snap/db` without a WAL: a
 * directory the next attempt refuses as not empty and etcd must never start on. It restores into a private folder
 * beside DIR (the same file system), renamed to DIR once complete and removed otherwise: DIR exists only whole. An
 * existing (empty) DIR may be a mount point, a volume of its own that no rename can replace or remove (EBUSY): the
 * folder is then made inside it, and what the tool wrote (`member/`) is moved up into DIR once complete.
 */
export async function runSnapshotRestore(
  tool: RestoreTool,
  snapshotFile: string,
  opts: SnapshotRestoreOptions,
  signal?: AbortSignal,
  progress?: RestoreProgress,
): Promise<void> {
  const into = await stat(opts.dataDir).then((s) => s.isDirectory(), () => false);
  const parent = into ? opts.dataDir : dirname(opts.dataDir);
  await makeDirs(parent).catch((err: NodeJS.ErrnoException) => {
    throw new OperationError(`cannot create ${err.path ?? parent} for --data-dir: ${describeError(err)}`, { cause: err });
  });
  const staging = join(parent, `.${basename(opts.dataDir)}.reshifter-${randomBytes(4).toString('hex')}`);
  const args = ['snapshot', 'restore', snapshotFile, '--data-dir', staging];
  if (opts.name !== undefined) args.push('--name', opts.name);
  if (opts.initialCluster !== undefined) args.push('--initial-cluster', opts.initialCluster);
  if (opts.initialAdvertisePeerUrls !== undefined) args.push('--initial-advertise-peer-urls', opts.initialAdvertisePeerUrls);
  if (opts.initialClusterToken !== undefined) args.push('--initial-cluster-token', opts.initialClusterToken);
  const untouched = into ? `${opts.dataDir} was left empty` : `${opts.dataDir} was not created`;
  const release = trackTempPath(staging);
  const stopProgress = progress && reportProgress(progress.log, 'restore', () => ({ bytes: sizeOf(join(staging, 'member', 'snap', 'db')) }), progress.total);
  try {
    try {
      await run(tool.command, args, 0, signal).finally(stopProgress);
    } catch (err) {
      if (signal?.aborted) {
        throw new AbortedError(`${tool.command} snapshot restore into ${opts.dataDir} stopped: ${describeError(signal.reason)}; ${untouched}`, { cause: err });
      }
      throw new OperationError(`${tool.command} snapshot restore failed: ${failureOf(err, parent, progress?.total)}; ${untouched}`, { cause: err });
    }
    if (into) for (const entry of await readdir(staging)) await rename(join(staging, entry), join(opts.dataDir, entry));
    else await rename(staging, opts.dataDir);
  } finally {
    await rm(staging, { recursive: true, force: true });
    release();
  }
}

/**
 * Why `snapshot restore` failed, from its exit and stderr: its `Error:` line rather than its JSON log lines, and a
 * full file system said as such, with the room the restore needs (about the snapshot's size, for the database).
 */
function failureOf(err: unknown, parent: string, total: number | undefined): string {
  const killed = (err as { signal?: string | null }).signal;
  if (killed) return `it was killed by ${killed}`;
  const lines = String((err as { stderr?: string }).stderr ?? '').trim().split('\n');
  const error = lines.filter((l) => l.startsWith('Error:')).at(-1);
  if (/no space left on device/i.test(error ?? lines.join(' '))) {
    const needs = total !== undefined ? `: it needs about ${formatBytes(total)} free there (the snapshot's database), and more for the WAL` : '';
    return `the file system of ${parent} is full (no space left on device)${needs}`;
  }
  return error ?? (lines.slice(-3).join(' ') || describeError(err));
}
