import type { Etcd3 } from 'etcd3';
import type { Config } from '../config/types.js';
import { EtcdError } from '../core/errors.js';
import type { RestoreTarget } from './restore-target.js';
import { V2Client } from './v2-client.js';
import { V2Target } from './v2-target.js';
import { V3Target } from './v3-target.js';

/**
 * Where to write a dump: RS_ETCD_API_VERSION when set; with `auto`, a v2 dump goes to the v2 API when the target
 * serves it (and everything goes to v2 on etcd 2.x), anything else to v3.
 */
export async function openRestoreTarget(config: Config, etcd: Etcd3, dumpApi: 'v2' | 'v3'): Promise<RestoreTarget> {
  const cfg = config.etcd;
  const v2 = new V2Client(cfg);
  let keep = false;
  try {
    let api: 'v2' | 'v3' = cfg.apiVersion === 'auto' ? dumpApi : cfg.apiVersion;
    if (cfg.apiVersion === 'auto') {
      const server = await v2.version().catch(() => undefined);
      if (server && Number(server.etcdserver.split('.')[0]) < 3) api = 'v2';
      else if (api === 'v2' && !(await v2.served().catch(() => false))) api = 'v3';
    } else if (api === 'v2' && !(await v2.served())) {
      throw new EtcdError(`RS_ETCD_API_VERSION is v2, but ${cfg.endpoints.join(',')} does not serve etcd's v2 API (etcd 3.4 needs --enable-v2)`);
    }
    if (api === 'v3') return new V3Target(etcd, cfg);
    keep = true;
    return new V2Target(v2);
  } finally {
    if (!keep) v2.close();
  }
}
