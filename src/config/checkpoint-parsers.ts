import { accessSync, constants, statSync } from 'node:fs';
import type { StrategySpec } from '../core/strategy.js';
import { modeAndOwner } from '../core/unreachable-path.js';
import { url } from './parsers.js';

// Parsers and rules of the container checkpoint variables (variables.ts declares them). Their rules across
// variables apply only when RS_BACKUP_STRATEGY is `checkpoint`; a backup through the API with
// {"strategy":"checkpoint"} checks the same again when it starts.

/** True when the strategy read so far is `checkpoint`. */
export const isCheckpoint = (earlier: (name: string) => unknown) => (earlier('RS_BACKUP_STRATEGY') as StrategySpec | undefined)?.kind === 'checkpoint';

/**
 * Kubernetes expands `$(NAME)` in a container's env only when NAME is defined before it there (the DaemonSet sets
 * HOST_IP and NODE_NAME from the downward API), and passes it on as it is otherwise; systemd's EnvironmentFile,
 * `docker --env-file` and a shell never expand it. Taken as it is, `https://$(HOST_IP):10250` fails only later, as
 * a host that does not resolve, and `$(NODE_NAME)` as "not a host name": say why at once.
 */
export function unexpandedKubernetesVariable(value: string): void {
  const found = /\$\(([A-Za-z_][A-Za-z0-9_]*)\)/.exec(value);
  if (found) {
    throw new Error(
      `holds "${found[0]}", which only Kubernetes expands, in a container's env that defines ${found[1]} before it ` +
        `(manifests/checkpoints sets it from the downward API): define it there, or give the value itself`,
    );
  }
}

/** The name the kubelet's certificate must show. */
export function kubeletServerName(value: string): string {
  unexpandedKubernetesVariable(value);
  if (!/^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/.test(value)) throw new Error('is not a host name');
  return value;
}

/**
 * The kubelet's authenticated port speaks https only. An IPv6 address without brackets, as the DaemonSet's
 * `https://$(HOST_IP):10250` makes on an IPv6 node (`https://fd00::7:10250`), is read as that address and port.
 */
export function kubeletUrl(value: string): string {
  unexpandedKubernetesVariable(value);
  const bare = /^https:\/\/([0-9a-f]*:[0-9a-f:.]*:[0-9a-f.]*):(\d{1,5})(\/.*)?$/i.exec(value.trim());
  const bracketed = bare && !bare[1]!.includes('[') ? `https://[${bare[1]}]:${bare[2]}${bare[3] ?? ''}` : value;
  try {
    return url(bracketed, ['https']);
  } catch (err) {
    throw new Error(`${(err as Error).message} (the kubelet's authenticated port, e.g. https://10.0.0.7:10250)`);
  }
}

/** The folder the kubelet writes checkpoints to, as this process sees it: it must be there, and writable to delete. */
export function checkpointDirProblem(dir: string, keepLocal: boolean): string | undefined {
  const where = 'it must be the node\'s kubelet checkpoint folder (/var/lib/kubelet/checkpoints), mounted as a hostPath in a pod';
  try {
    if (!statSync(dir).isDirectory()) return `RS_CHECKPOINT_DIR was invalid: ${JSON.stringify(dir)} is not a directory: ${where}`;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return `RS_CHECKPOINT_DIR was invalid: ${JSON.stringify(dir)} ${code === 'ENOENT' ? 'does not exist' : `cannot be used (${code ?? 'error'})`}: ${where}`;
  }
  try {
    accessSync(dir, constants.R_OK | constants.X_OK | (keepLocal ? 0 : constants.W_OK));
  } catch (err) {
    return checkpointDirRefused(dir, keepLocal, (err as NodeJS.ErrnoException).code);
  }
  return undefined;
}

/**
 * Why the checkpoint folder cannot be used by this process, and what helps: a read-only mount (a hostPath volume with
 * `readOnly: true`), which running as root does not change; else the folder's mode and owner against this uid (a
 * pod with runAsNonRoot: the kubelet's folder and archives are root's).
 */
function checkpointDirRefused(dir: string, keepLocal: boolean, code: string | undefined): string {
  const head = `RS_CHECKPOINT_DIR was invalid: ${JSON.stringify(dir)}`;
  const deleted = 'and each archive is deleted there once stored';
  if (code === 'EROFS') return `${head} is on a read-only mount, ${deleted}: mount it writable (a hostPath volume without readOnly: true), or set RS_CHECKPOINT_KEEP_LOCAL=true`;
  const uid = process.getuid?.();
  // The mode is a detail of the message.
  const owned = modeAndOwner(dir);
  const mode = owned === undefined ? '' : ` (${owned})`;
  const by = `${uid === undefined ? '' : ` by uid ${uid}`}${mode}`;
  return keepLocal
    ? `${head} cannot be read${by}: checkpoint archives are root's, so run as root on the node`
    : `${head} cannot be written${by}, ${deleted}: run as root (the kubelet's archives are root's), or set RS_CHECKPOINT_KEEP_LOCAL=true`;
}
