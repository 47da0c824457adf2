import { execFile } from 'node:child_process';
import { chmod, chown, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

/** The uid a command of `nonRoot` runs as when the suite runs as root: nobody, as a pod's runAsUser may be. */
export const NON_ROOT_UID = 65534;

/**
 * The argv prefix that runs a command as a non-root user, as a pod with runAsNonRoot runs reshifter: empty when the
 * suite already runs as another user than root; when it runs as root (CI), setpriv to uid/gid 65534 with no
 * supplementary groups. That user keeps one capability, to read any file (CAP_DAC_READ_SEARCH), so that a clone in a
 * folder closed to others (CI's, 0700) still starts; it may write only what its uid may, as in the pod.
 */
export function nonRoot(): string[] {
  if (process.getuid?.() !== 0) return [];
  return ['setpriv', `--reuid=${NON_ROOT_UID}`, `--regid=${NON_ROOT_UID}`, '--clear-groups', '--inh-caps=-all,+dac_read_search', '--ambient-caps=+dac_read_search'];
}

/** The uid commands run under `nonRoot()` have. */
export const nonRootUid = (): number => (process.getuid?.() === 0 ? NON_ROOT_UID : process.getuid!());

/**
 * The argv prefix that lets file modes stop this process as they stop any user's: for root, its capabilities to
 * override them dropped (it stays uid 0, so it still starts from a clone closed to others); empty for anyone else.
 * What it may not read is then another owner's (NON_ROOT_UID's) file or folder of mode 0600 or 0700.
 */
export function boundByFileModes(): string[] {
  return process.getuid?.() === 0 ? ['setpriv', '--bounding-set', '-dac_override,-dac_read_search'] : [];
}

/** Runs the built CLI under `nonRoot()` with exactly `env` (plus PATH), in `cwd`: its exit code and output. */
export async function runCliAsNonRoot(args: string[], env: Record<string, string>, cwd: string, prefix: string[] = nonRoot()): Promise<{ code: number; stdout: string; stderr: string }> {
  const argv = [...prefix, process.execPath, new URL('../../dist/main.js', import.meta.url).pathname, ...args];
  const full = { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env };
  return promisify(execFile)(argv[0]!, argv.slice(1), { env: full, cwd }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' }),
  );
}

/**
 * A folder `dir`/`name` that commands run under `nonRoot()` may not write: root's 0755 when the suite runs as root
 * (for uid 65534), else this user's own 0555; with its mode and owner as reshifter's refusal names them.
 */
export async function closedFolder(dir: string, name: string): Promise<{ folder: string; mode: string }> {
  const root = process.getuid?.() === 0;
  const folder = join(dir, name);
  await mkdir(folder);
  if (root) await chown(folder, 0, 0);
  await chmod(folder, root ? 0o755 : 0o555);
  return { folder, mode: `mode ${root ? '0755' : '0555'}, owner uid ${root ? 0 : process.getuid!()}` };
}
