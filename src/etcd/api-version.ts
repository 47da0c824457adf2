import type { Etcd3 } from 'etcd3';
import type { EtcdConfig } from '../config/types.js';
import { EtcdError, describeError } from '../core/errors.js';
import { toEtcdError } from './errors.js';
import { DEFAULT_PREFIXES } from '../kube/key-layout.js';
import { countV3Prefixes, findV2Prefixes } from './kube-prefixes.js';
import type { V2Client } from './v2-client.js';

/**
 * The etcd API to read or write: RS_ETCD_API_VERSION when it is v2 or v3; with `auto`, v2 for etcd 2.x, v3 when it
 * holds Kubernetes keys, v2 when only the v2 keyspace does (a Kubernetes 1.5-era cluster on etcd 3 with --enable-v2),
 * else v3.
 */
export async function resolveApiVersion(
  cfg: EtcdConfig,
  etcd: Etcd3,
  v2: V2Client,
  prefixes: readonly string[],
  warn: (fields: Record<string, unknown>, msg: string) => void = () => undefined,
): Promise<'v2' | 'v3'> {
  if (cfg.apiVersion === 'v3') return 'v3';
  if (cfg.apiVersion === 'v2') {
    if (!(await v2.served())) {
      throw new EtcdError(
        `RS_ETCD_API_VERSION is v2, but ${cfg.endpoints.join(',')} does not serve etcd's v2 API (etcd 3.4 needs --enable-v2; etcd 3.6 removed it)`,
      );
    }
    return 'v2';
  }
  // An endpoint that does not tell its version (it hangs, refuses, or is no etcd) is not asked more: each probe could
  // wait RS_ETCD_TIMEOUT, in silence, before the operation itself meets the same endpoint and says what is wrong.
  const asked = Date.now();
  const server = await v2.version().catch((err: unknown) => {
    // A wait is said (the operation meets the same endpoint next); a quick refusal, such as TLS spoken on an http://
    // endpoint, is left for the operation to explain.
    if (Date.now() - asked >= 1_000) {
      warn({ err: describeError(err), waitedMs: Date.now() - asked }, 'etcd did not tell its version (GET /version): reading its v3 API, as every etcd 3 serves');
    }
    return undefined;
  });
  if (server === undefined) return 'v3';
  if (Number(server.etcdserver.split('.')[0]) < 3) return 'v2';
  // Most endpoints (etcd 3.5+, or 3.4 without --enable-v2) serve v3 only: nothing to weigh.
  if (!(await v2.served().catch(() => false))) return 'v3';
  const wanted = prefixes.length > 0 ? prefixes : DEFAULT_PREFIXES;
  let v3Keys: number;
  try {
    v3Keys = (await countV3Prefixes(etcd, wanted)).reduce((n, p) => n + p.keys, 0);
  } catch (err) {
    // etcd 3 always serves v3: a v3 read that fails (refused credentials, no permission) is the error to report,
    // never a reason to back up the old v2 keyspace instead, which an auth-enabled etcd still serves to anyone.
    throw toEtcdError(err, 'reading the v3 keyspace to choose between the v2 and v3 APIs', cfg);
  }
  const v2Prefixes = await findV2Prefixes(v2, wanted).catch(() => []);
  if (v3Keys > 0) {
    if (v2Prefixes.length > 0) {
      warn(
        { v2Prefixes },
        'both the v3 and the v2 keyspace hold Kubernetes keys: reading v3 (what Kubernetes since 1.6 uses); set RS_ETCD_API_VERSION=v2 to back up the v2 keys too, in a backup of their own',
      );
    }
    return 'v3';
  }
  return v2Prefixes.length > 0 ? 'v2' : 'v3';
}
