import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Config } from './types.js';
import type { VariableGroup } from './variables.js';

/** Something about the configuration an operator should hear once at start-up, though it stops nothing. */
export interface ConfigWarning {
  /** The fixed log message. */
  msg: string;
  /** The variable it is about. */
  variable: string;
  /** What is wrong and what to do. */
  detail: string;
}

/**
 * Private key files the command reads that other users can read, as ssh warns of them (but runs: a Kubernetes Secret
 * volume is 0644 unless its defaultMode says otherwise). On such a volume (kubelet's `..data` beside the file) the
 * group is the pod's fsGroup, so only a key readable by others counts, and the fix is the volume's defaultMode.
 */
export function keyFileWarnings(config: Config, groups: ReadonlySet<VariableGroup>): ConfigWarning[] {
  const files: Array<[VariableGroup, string, string | undefined]> = [
    ['etcd', config.etcd.readFrom?.clientKeyFile ?? 'RS_ETCD_CLIENT_KEY', config.etcd.clientKeyFile],
    ['decryption', 'RS_ENCRYPTION_IDENTITY_FILE', config.encryption.identityFile],
    ['checkpoint', 'RS_KUBELET_CLIENT_KEY', config.checkpoint.kubelet.clientKeyFile],
  ];
  return files.flatMap(([group, variable, file]) => {
    if (file === undefined || !groups.has(group)) return [];
    const detail = openKeyFile(file);
    return detail === undefined ? [] : [{ msg: 'private key file readable by other users', variable, detail: `${variable}: ${detail}` }];
  });
}

/** Why key file `file` is too open and how to close it, or undefined when only its owner can read it. */
function openKeyFile(file: string): string | undefined {
  let mode: number;
  try {
    mode = statSync(file).mode & 0o777;
  } catch {
    return undefined; // the variable's own check says what is wrong with it
  }
  const onVolume = existsSync(join(dirname(file), '..data'));
  if ((mode & (onVolume ? 0o004 : 0o044)) === 0) return undefined;
  const shown = `0${mode.toString(8).padStart(3, '0')}`;
  if (onVolume) return `${file} is a private key readable by every user in the container (mode ${shown}, a Secret volume's default): set defaultMode: 0400 on the volume (0440 with an fsGroup)`;
  return `${file} is a private key readable by other users (mode ${shown}): chmod 600 ${file}`;
}
