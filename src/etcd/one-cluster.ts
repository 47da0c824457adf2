import type { EtcdConfig } from '../config/types.js';
import { EtcdError, describeError } from '../core/errors.js';
import { createEtcdClient } from './client.js';
import { toEtcdError } from './errors.js';
import { interruptedError } from './interrupt.js';
import { variableOf } from './tls-check.js';

/**
 * How long an endpoint is given to tell its cluster, in one attempt: one that is down (a refused connection fails at
 * once) or does not answer is left out of the check rather than holding up every operation for RS_ETCD_TIMEOUT; the
 * operation itself then reaches the others.
 */
const ASK_MS = 3_000;

/**
 * Refuses endpoints of more than one etcd cluster (pasted from two environments, a member left on its own after a
 * restore made a new cluster): the client sends each request to any endpoint, so an operation would mix their
 * answers (explore's revision from one and members from the other) or write a restore into either. Each endpoint is
 * asked for its status once, all at once, and only when there is more than one; one that does not answer is skipped,
 * as long as those that answer agree. `signal` (SIGTERM) ends the wait for them. Returns the endpoints that answered
 * knowing no leader (cut off from the others) while others name one: the operation should pass them over.
 */
export async function assertOneCluster(cfg: EtcdConfig, signal?: AbortSignal): Promise<string[]> {
  if (cfg.endpoints.length < 2) return [];
  const answered = (await endpointStatuses(cfg, signal)).filter((a) => a.error === undefined);
  if (new Set(answered.map((a) => a.cluster)).size < 2) {
    const cutOff = answered.filter((a) => a.leader === '0').map((a) => a.endpoint);
    return cutOff.length < answered.length ? cutOff : [];
  }
  throw new EtcdError(
    `${variableOf(cfg, 'endpoints')} name members of different etcd clusters: ${answered.map((a) => `${a.endpoint} (cluster ${a.cluster})`).join(', ')}: ` +
      `give the client URLs of one cluster ("reshifter explore --endpoints URL" lists each one's members)`,
  );
}

/** One configured endpoint's own status, as `etcdctl endpoint status` shows it; `error` when it did not answer. */
export interface EndpointStatus {
  endpoint: string;
  error?: string;
  /** The id of the etcd cluster it is a member of. */
  cluster?: string;
  memberId?: string;
  /** The member it takes for the leader ('0': none, it is cut off from the others or the cluster lost quorum). */
  leader?: string;
  raftTerm?: number;
  raftIndex?: number;
  raftAppliedIndex?: number;
  revision?: number;
  /** etcd's own errors in the status (`etcdserver: no leader`, alarms). */
  errors?: string[];
}

/**
 * Every configured endpoint's status, each asked once within ASK_MS: the client reaches any member without a word, so
 * `explore` says which member is down, which one leads, and which has no leader or lags behind the others.
 */
export async function endpointStatuses(cfg: EtcdConfig, signal?: AbortSignal): Promise<EndpointStatus[]> {
  const ask = async (endpoint: string): Promise<EndpointStatus> => {
    const one = { ...cfg, endpoints: [endpoint], timeoutMs: Math.min(cfg.timeoutMs, ASK_MS) };
    const client = createEtcdClient(one, { oneAttempt: true });
    try {
      const s = await client.maintenance.status();
      return {
        endpoint,
        cluster: s.header.cluster_id,
        memberId: s.header.member_id,
        leader: s.leader,
        raftTerm: Number(s.raftTerm),
        raftIndex: Number(s.raftIndex),
        raftAppliedIndex: Number(s.raftAppliedIndex),
        revision: Number(s.header.revision),
        errors: s.errors ?? [],
      };
    } catch (err) {
      return { endpoint, error: describeError(toEtcdError(err, 'asking for its status', one)) };
    } finally {
      client.close();
    }
  };
  const asked = Promise.all(cfg.endpoints.map(ask));
  return signal ? await untilAborted(asked, signal) : await asked;
}

/** `work`, or the error of an interrupted etcd request as soon as `signal` aborts. */
async function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) throw interruptedError(signal);
  let onAbort = () => undefined as void;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(interruptedError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([work, aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
