import type { Config } from '../config/types.js';
import { exploreEndpoint, type EndpointReport } from '../etcd/explore-endpoint.js';
import { withEtcd } from '../etcd/with-etcd.js';
import type { Logger } from '../log.js';

/** What the configured etcd endpoint is and holds (`explore`, `GET /api/v1/explore`). */
export function explore(config: Config, signal: AbortSignal, log?: Logger): Promise<EndpointReport> {
  return withEtcd(config, { signal, ...(log !== undefined && { log }) }, (etcd) => exploreEndpoint(etcd, config.etcd, config.selection.prefixes));
}
