import { execFile } from 'node:child_process';
import { OperationError, describeError } from '../core/errors.js';

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

function run(command: string, args: string[], timeoutMs = 0): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { env: { ...process.env, ETCDCTL_API: '3' }, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
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

/** Runs `<tool> snapshot restore FILE --data-dir DIR ...`; fails with the tool's own words. */
export async function runSnapshotRestore(tool: RestoreTool, snapshotFile: string, opts: SnapshotRestoreOptions): Promise<void> {
  const args = ['snapshot', 'restore', snapshotFile, '--data-dir', opts.dataDir];
  if (opts.name !== undefined) args.push('--name', opts.name);
  if (opts.initialCluster !== undefined) args.push('--initial-cluster', opts.initialCluster);
  if (opts.initialAdvertisePeerUrls !== undefined) args.push('--initial-advertise-peer-urls', opts.initialAdvertisePeerUrls);
  if (opts.initialClusterToken !== undefined) args.push('--initial-cluster-token', opts.initialClusterToken);
  try {
    await run(tool.command, args);
  } catch (err) {
    const stderr = String((err as { stderr?: string }).stderr ?? '').trim().split('\n').slice(-3).join(' ');
    throw new OperationError(`${tool.command} snapshot restore failed: ${stderr || describeError(err)}`, { cause: err });
  }
}
