import type { Config } from '../config/types.js';
import { exploreEndpoint, type EndpointReport } from '../etcd/explore-endpoint.js';
import { unansweredEndpoints } from '../etcd/one-cluster.js';
import { withEtcd } from '../etcd/with-etcd.js';
import type { Logger } from '../log.js';

/** What the configured etcd endpoint is and holds (`explore`, `GET /api/v1/explore`). */
export async function explore(config: Config, signal: AbortSignal, log?: Logger): Promise<EndpointReport> {
  const report = await withEtcd(config, { signal, ...(log !== undefined && { log }) }, (etcd) => exploreEndpoint(etcd, config.etcd, config.selection.prefixes));
  const unanswered = await unansweredEndpoints(config.etcd, signal);
  return { ...report, ...(unanswered.length > 0 && { unanswered }) };
}
