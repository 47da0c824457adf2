import type { Config } from '../config/types.js';
import { exploreEndpoint, quorumLostReport, type EndpointReport } from '../etcd/explore-endpoint.js';
import { QuorumLostError, answeredStatus, endpointStatuses, type EndpointStatus } from '../etcd/one-cluster.js';
import { withEtcd } from '../etcd/with-etcd.js';
import type { Logger } from '../log.js';

/** What the configured etcd endpoint is and holds (`explore`, `GET /api/v1/explore`). */
export async function explore(config: Config, signal: AbortSignal, log?: Logger): Promise<EndpointReport> {
  let checked: EndpointStatus[] | undefined;
  const onStatuses = (s: EndpointStatus[]) => (checked = s);
  const report = await withEtcd(config, { signal, onStatuses, ...(log !== undefined && { log }) }, (etcd, pinned) =>
    exploreEndpoint(etcd, pinned.etcd, config.selection.prefixes, answeredStatus(checked ?? [])),
  ).catch((err: unknown) => {
    // What the members that answer tell (their status, the member list) is reported, with why nothing more was read.
    if (err instanceof QuorumLostError) return quorumLostReport(config.etcd, err);
    throw err;
  });
  // Each endpoint was asked by the one-cluster check (a single one that did not answer it, by the exploring itself
  // again, whose answer is the later): asked once more, a slow member was waited for twice.
  const statuses = report.endpointStatus ?? checked ?? (await endpointStatuses(config.etcd, signal));
  const unanswered = statuses.flatMap((s) => (s.error !== undefined ? [{ endpoint: s.endpoint, error: s.error }] : []));
  // Said for a single endpoint too: one cut off from its cluster answers with its own, stale, revision.
  return { ...report, endpointStatus: statuses, ...(unanswered.length > 0 && config.etcd.endpoints.length > 1 && { unanswered }) };
}
