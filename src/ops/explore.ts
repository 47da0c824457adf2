import type { Config } from '../config/types.js';
import { exploreEndpoint, type EndpointReport } from '../etcd/explore-endpoint.js';
import { withEtcd } from '../etcd/with-etcd.js';

/** What the configured etcd endpoint is and holds (`explore`, `GET /api/v1/explore`). */
export function explore(config: Config, signal: AbortSignal): Promise<EndpointReport> {
  return withEtcd(config, signal, (etcd) => exploreEndpoint(etcd, config.etcd, config.selection.prefixes));
}
