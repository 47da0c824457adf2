import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Config } from './types.js';
import type { VariableGroup } from './variables.js';

/**
 * Something about the configuration an operator should hear once at start-up, though it stops nothing: a variable of
 * etcdctl's that reshifter does not read, a private key others can read.
 */
export interface ConfigWarning {
  /** The fixed log message. */
  msg: string;
  /** The variable it is about. */
  variable: string;
  /** What is wrong and what to do. */
  detail: string;
}

const NOT_READ = "etcdctl's variable is not read by reshifter";

/** `true` for a bool variable as etcdctl (pflag's ParseBool) takes it. */
const isTrue = (v: string) => ['1', 't', 'true'].includes(v.trim().toLowerCase());
const isFalse = (v: string) => ['0', 'f', 'false'].includes(v.trim().toLowerCase());

/**
 * etcdctl's variables (3.4, 3.5) that reshifter does not read, each with what it does instead, or undefined when the
 * value asks nothing reshifter would not do anyway. None is mapped onto an RS_ variable: etcdctl's timeouts bound
 * one dial (2s) or one command (5s), RS_ETCD_TIMEOUT one call with its retries (30s), and a shell's ETCDCTL_DIAL_TIMEOUT
 * would fail a large backup's calls. ETCDCTL_INSECURE_DISCOVERY only qualifies ETCDCTL_DISCOVERY_SRV. Output settings
 * (ETCDCTL_WRITE_OUT, _HEX, _DEBUG) are not connection settings, and are left alone without a word, and so is
 * ETCDCTL_API=3 (what every control-plane shell exports); ETCDCTL_API=2 asks for the v2 keyspace, which reshifter
 * reads only with RS_ETCD_API_VERSION=v2 (auto takes v3 whenever etcd serves it), so it is named.
 */
const ETCDCTL_NOT_READ: Readonly<Record<string, (value: string) => string | undefined>> = {
  // Never honoured: reshifter always verifies etcd's certificate. A warning, not a refusal: a shell that exports it
  // for etcdctl beside a good ETCDCTL_CACERT works as it is, and one without the CA fails on the certificate, naming it.
  ETCDCTL_INSECURE_SKIP_TLS_VERIFY: (v) =>
    isFalse(v) ? undefined : "is set, but reshifter always verifies etcd's certificate: give the CA that signed it with RS_ETCD_CA_CERT (or ETCDCTL_CACERT)",
  ETCDCTL_INSECURE_TRANSPORT: (v) =>
    isTrue(v) ? undefined : 'is not read: give https:// endpoints (RS_ETCD_ENDPOINTS, or ETCDCTL_ENDPOINTS) for TLS; a bare host:port is https only with TLS files',
  ETCDCTL_DIAL_TIMEOUT: () => 'is not read: RS_ETCD_TIMEOUT (default 30s) bounds each etcd call, its retries included; set it to change that',
  ETCDCTL_COMMAND_TIMEOUT: () => 'is not read: RS_ETCD_TIMEOUT (default 30s) bounds each etcd call, its retries included; set it to change that',
  ETCDCTL_KEEPALIVE_TIME: () => 'is not read: reshifter has no keepalive setting',
  ETCDCTL_KEEPALIVE_TIMEOUT: () => 'is not read: reshifter has no keepalive setting',
  ETCDCTL_DISCOVERY_SRV: () => 'is not read: reshifter does not look endpoints up in DNS SRV records; give them with RS_ETCD_ENDPOINTS (or ETCDCTL_ENDPOINTS)',
  ETCDCTL_API: (v) =>
    v.trim() !== '2'
      ? undefined
      : "is not read: reshifter reads etcd's v2 keyspace only with RS_ETCD_API_VERSION=v2 (auto, the default, takes v3 whenever etcd serves it); set it for the keys etcdctl shows with ETCDCTL_API=2",
  ETCDCTL_DISCOVERY_SRV_NAME: () => 'is not read: reshifter does not look endpoints up in DNS SRV records; give them with RS_ETCD_ENDPOINTS (or ETCDCTL_ENDPOINTS)',
};

/** etcdctl's connection variables in `env` that reshifter does not read, and what to do instead. */
export function etcdctlWarnings(env: Record<string, string | undefined>): ConfigWarning[] {
  return Object.entries(ETCDCTL_NOT_READ).flatMap(([variable, why]) => {
    const value = env[variable];
    // Blank counts as unset, as for the etcdctl variables reshifter reads.
    // ETCDCTL_API=2 beside RS_ETCD_API_VERSION=v2 asks what is done.
    const agreed = variable === 'ETCDCTL_API' && env.RS_ETCD_API_VERSION?.trim() === 'v2';
    const detail = value === undefined || value.trim() === '' || agreed ? undefined : why(value);
    return detail === undefined ? [] : [{ msg: NOT_READ, variable, detail: `${variable} ${detail}` }];
  });
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

/**
 * An etcd endpoint named more than once (`ETCDCTL_ENDPOINTS="A, A"`, or `A` beside `http://A`): config.etcd.endpoints
 * keeps each once (in the order first named), and one warning names the repeats and the variable they came from.
 */
export function repeatedEndpoints(config: Config, variable: string): ConfigWarning[] {
  const named = config.etcd.endpoints;
  const once = [...new Set(named)];
  if (once.length === named.length) return [];
  config.etcd.endpoints = once;
  const repeats = once.filter((e) => named.indexOf(e) !== named.lastIndexOf(e));
  const detail = `${variable} names ${repeats.join(', ')} more than once; ${repeats.length === 1 ? 'it is' : 'each is'} used once (${once.join(', ')})`;
  return [{ msg: 'etcd endpoint named more than once', variable, detail }];
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
