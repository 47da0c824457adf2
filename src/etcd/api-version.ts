import type { Etcd3 } from 'etcd3';
import type { EtcdConfig } from '../config/types.js';
import { EtcdError } from '../core/errors.js';
import { DEFAULT_PREFIXES } from '../kube/index.js';
import { countV3Prefixes, findV2Prefixes } from './kube-prefixes.js';
import type { V2Client } from './v2-client.js';

/**
 * The etcd API to read or write: RS_ETCD_API_VERSION when it is v2 or v3; with `auto`, v2 for etcd 2.x, v3 when it
 * holds Kubernetes keys, v2 when only the v2 keyspace does (a Kubernetes 1.5-era cluster on etcd 3 with --enable-v2),
 * else v3.
 */
export async function resolveApiVersion(cfg: EtcdConfig, etcd: Etcd3, v2: V2Client, prefixes: readonly string[]): Promise<'v2' | 'v3'> {
  if (cfg.apiVersion === 'v3') return 'v3';
  if (cfg.apiVersion === 'v2') {
    if (!(await v2.served())) {
      throw new EtcdError(
        `RS_ETCD_API_VERSION is v2, but ${cfg.endpoints.join(',')} does not serve etcd's v2 API (etcd 3.4 needs --enable-v2; etcd 3.6 removed it)`,
      );
    }
    return 'v2';
  }
  const server = await v2.version().catch(() => undefined);
  if (server && Number(server.etcdserver.split('.')[0]) < 3) return 'v2';
  // Most endpoints (etcd 3.5+, or 3.4 without --enable-v2) serve v3 only: nothing to weigh.
  if (!(await v2.served().catch(() => false))) return 'v3';
  const wanted = prefixes.length > 0 ? prefixes : DEFAULT_PREFIXES;
  let v3Keys: number;
  try {
    v3Keys = (await countV3Prefixes(etcd, wanted)).reduce((n, p) => n + p.keys, 0);
  } catch {
    // v2 answers but v3 does not (or refuses us): the v2 keyspace is what can be read.
    return 'v2';
  }
  if (v3Keys > 0) return 'v3';
  return (await findV2Prefixes(v2, wanted).catch(() => [])).length > 0 ? 'v2' : 'v3';
}
