import type { Etcd3 } from 'etcd3';
import type { Config } from '../config/types.js';
import { createEtcdClient, readTlsFiles } from './client.js';
import { TlsResetError, explainTlsReset, toEtcdError } from './errors.js';
import { HostTlsRefused, MemberCutOff, markHostFailed, poolHostOf } from './fault-handling.js';
import { poolOf } from './etcd3-pool.js';
import { interruptibleBy, type OnWait } from './interrupt.js';
import { assertOneCluster, endpointStatuses, leaderless, pinnedEndpoints, quorumLost, type EndpointStatus, type PassOver, type QuorumLostError } from './one-cluster.js';
import { EtcdError, describeError } from '../core/errors.js';
import type { Logger } from '../log.js';

export interface WithEtcdOptions {
  signal: AbortSignal;
  log?: Logger;
  /**
   * Given each endpoint's status as the one-cluster check got it (a single one's too), before
   * `fn` runs: what explore and stats show of the members, so that they need not ask every member again.
   */
  onStatuses?: (statuses: EndpointStatus[]) => void;
}

/**
 * Runs `fn` with an etcd v3 client and closes it afterwards. Every etcd request `fn` makes (v3 or v2) ends when
 * `signal` aborts, with an AbortedError, however long etcd would have been waited for. A connection reset during the
 * TLS handshake is explained by asking the endpoint (plain http? our client certificate refused?) before it is
 * reported. Endpoints of more than one etcd cluster are refused before `fn` runs (see one-cluster.ts); `fn` is given
 * the configuration pinned to the members the check accepted (see pinnedEndpoints), which the client uses too: whatever `fn`
 * reads or writes, by the client or by its own (the snapshot's member, v2 reads), must go by it.
 */
export async function withEtcd<T>(config: Config, op: WithEtcdOptions, fn: (etcd: Etcd3, pinned: Config) => Promise<T>): Promise<T> {
  let etcd: Etcd3 | undefined;
  // A call that etcd leaves unanswered is retried until RS_ETCD_TIMEOUT: said once a second has gone by, not in silence.
  const onWait: OnWait = ({ error, waitedMs }) => {
    // One member's certificate refused (it names another host, another CA signed it): the others are used.
    if (error instanceof HostTlsRefused) {
      const endpoint = config.etcd.endpoints.find((e) => poolHostOf(e) === error.host) ?? error.host;
      const reason = describeError(toEtcdError(error.error, 'the TLS handshake', { ...config.etcd, endpoints: [endpoint] }));
      op.log?.warn({ endpoint, err: reason }, `passing over ${endpoint}, whose TLS handshake failed: ${reason}; the other endpoints are used`);
      return;
    }
    op.log?.warn({ err: describeError(error), waitedMs, timeoutMs: config.etcd.timeoutMs, endpoints: config.etcd.endpoints }, 'etcd does not answer: retrying until RS_ETCD_TIMEOUT');
  };
  let checked: PassOver | undefined;
  try {
    checked = await assertOneCluster(config.etcd, op.signal);
    op.onStatuses?.(checked.statuses);
    const pinnedConfig = { ...config, etcd: pinnedEndpoints(config.etcd, checked) };
    const client = (etcd = createEtcdClient(pinnedConfig.etcd, op.log !== undefined ? { log: op.log } : {}));
    passOver(client, checked, op.log);
    return await interruptibleBy(op.signal, () => fn(client, pinnedConfig), onWait);
  } catch (err) {
    if (err instanceof TlsResetError) throw await explainTlsReset(err, config.etcd, readTlsFiles(config.etcd));
    throw (await lostQuorumBehind(config, err, checked)) ?? err;
  } finally {
    etcd?.close();
  }
}

/**
 * With one endpoint, a quorum lost after the one-cluster check fails the operation after RS_ETCD_TIMEOUT of "no
 * leader" / "request timed out", which said etcd was unreachable. Asked then: its status, and the other members' it
 * lists; the lost quorum is what the operation fails with, when it is one. Not asked when the check's status of it
 * had no answer (a frozen etcd: it would be waited for once more), nor when the check itself failed.
 */
async function lostQuorumBehind(config: Config, err: unknown, checked: PassOver | undefined): Promise<QuorumLostError | undefined> {
  if (config.etcd.endpoints.length !== 1 || !(err instanceof EtcdError) || !/no leader|timed out|did not answer within/i.test(err.message)) return undefined;
  if (checked === undefined || checked.statuses.every((s) => s.error !== undefined)) return undefined;
  try {
    const statuses = await endpointStatuses(config.etcd);
    return leaderless(statuses) ? await quorumLost(config.etcd, statuses) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Members that know no leader while others do (cut off from them) are passed over by the client from the start: its
 * linearizable reads would each wait etcd's 7 s and fail before going to another member. So are members that did not
 * answer the one-cluster check in time (frozen, or slow): their cluster is not known, so they are not among the
 * client's endpoints at all (see pinnedEndpoints). Said once each.
 */
function passOver(etcd: Etcd3, { cutOff, late }: PassOver, log: Logger | undefined): void {
  const pool = poolOf(etcd);
  const mark = (endpoint: string, why: string): boolean => {
    const host = pool.hosts.find((h) => (h as unknown as { host: string }).host === poolHostOf(endpoint));
    if (host !== undefined) markHostFailed(pool, host, new MemberCutOff(`${endpoint} ${why}`));
    return host !== undefined;
  };
  for (const endpoint of cutOff) {
    if (mark(endpoint, 'knows no leader')) log?.warn({ endpoint }, `passing over ${endpoint}: it knows no leader (cut off from the other members); the others are used`);
  }
  for (const endpoint of late) {
    log?.warn({ endpoint }, `passing over ${endpoint}: it did not answer within a second of the other members (frozen?); the others are used, and nothing is read from it, whose cluster is not known`);
  }
}
