import type { IStatusResponse } from 'etcd3';
import type { EtcdConfig } from '../config/types.js';
import { EtcdError, describeError } from '../core/errors.js';
import { budgetedWait } from '../core/wait-budget.js';
import { createEtcdClient } from './client.js';
import { EtcdUnansweredError, toEtcdError } from './errors.js';
import { CONNECT_GRACE_MS } from './fault-handling.js';
import { interruptedError } from './interrupt.js';
import { variableOf } from './tls-check.js';

/**
 * How long an endpoint is given to tell its cluster, in one attempt: one that is down (a refused connection fails at
 * once) or does not answer is left out of the check rather than holding up every operation for RS_ETCD_TIMEOUT; the
 * operation itself then reaches the others.
 */
const ASK_MS = 3_000;

/**
 * How long the check waits for the endpoints still silent once one has answered: a frozen member (SIGSTOP) takes the
 * connection and never answers, and each fresh process (a CronJob's backup) waited ASK_MS for it. The connect grace
 * of the calls (fault-handling.ts), which then pass it over as this check does.
 */
const LATE_MS = CONNECT_GRACE_MS;

/** What the one-cluster check found that the operation should pass over: see assertOneCluster. */
export interface PassOver {
  /** Endpoints that answered knowing no leader (cut off from the others) while others name one. */
  cutOff: string[];
  /** Endpoints that had not answered LATE_MS after the first answer (frozen): their cluster is not known. */
  late: string[];
  /** Every endpoint's status as the check got it (one endpoint is asked too). */
  statuses: EndpointStatus[];
}

/**
 * Refuses endpoints of more than one etcd cluster (pasted from two environments, a member left on its own after a
 * restore made a new cluster): the client sends each request to any endpoint, so an operation would mix their
 * answers (explore's revision from one and members from the other) or write a restore into either. Each endpoint is
 * asked for its status once, all at once; a single endpoint too, which is how a member left alone by a lost quorum
 * is told at once (it answers Status knowing no leader and lists the other members, while each read it is sent waits
 * RS_ETCD_TIMEOUT). One that does not answer is skipped, as long as those that answer agree: one that is down fails at once, one that is frozen is given LATE_MS after the
 * first answer. `signal` (SIGTERM) ends the wait for them. Returns what the operation should pass over (see PassOver):
 * a late endpoint, whose cluster is not known, is not used while the others answer. Fails at once with a
 * QuorumLostError when the members that answer know no leader and are fewer than a quorum.
 */
export async function assertOneCluster(cfg: EtcdConfig, signal?: AbortSignal): Promise<PassOver> {
  const started = Date.now();
  const statuses = await silentToTheEnd(cfg, await endpointStatuses(cfg, signal, { lateMs: LATE_MS }), started, signal);
  const answered = statuses.filter((a) => a.error === undefined);
  const late = statuses.filter((a) => a.late === true).map((a) => a.endpoint);
  if (new Set(answered.map((a) => a.cluster)).size < 2) {
    // None that answers knows a leader, and they are fewer than a quorum: nothing can be read or written until
    // members come back, which no retry waits out (see quorumLost).
    const lost = leaderless(statuses) ? await quorumLost(cfg, statuses) : undefined;
    if (lost !== undefined) throw lost;
    const cutOff = answered.filter((a) => a.leader === '0').map((a) => a.endpoint);
    return { cutOff: cutOff.length < answered.length ? cutOff : [], late, statuses };
  }
  throw new EtcdError(
    `${variableOf(cfg, 'endpoints')} name members of different etcd clusters: ${answered.map((a) => `${a.endpoint} (cluster ${a.cluster})`).join(', ')}: ` +
      `give the client URLs of one cluster ("reshifter explore --endpoints URL" lists each one's members)`,
  );
}

/**
 * When no endpoint answered the check and some did not answer at all (frozen, a hung VM: not a refused connection),
 * they are given the rest of RS_ETCD_TIMEOUT, counted from the start of the check, and the operation fails here when
 * they still do not answer: each of its own calls (the version probe, the read) would wait RS_ETCD_TIMEOUT again,
 * where README says it gives up after RS_ETCD_TIMEOUT. Returns the statuses with the late answers in them.
 */
async function silentToTheEnd(cfg: EtcdConfig, statuses: EndpointStatus[], started: number, signal?: AbortSignal): Promise<EndpointStatus[]> {
  // A caller's wait budget shorter than RS_ETCD_TIMEOUT (an API request's: core/wait-budget.ts) bounds the wait
  // instead: the operation meets it at once and says it.
  if (statuses.some((s) => s.error === undefined) || budgetedWait(cfg.timeoutMs).budget !== undefined) return statuses;
  const silent = statuses.filter((s) => s.silent === true).map((s) => s.endpoint);
  if (silent.length === 0) return statuses;
  const rest = cfg.timeoutMs - (Date.now() - started);
  if (rest >= 100) {
    const again = await endpointStatuses({ ...cfg, endpoints: silent }, signal, { lateMs: LATE_MS, askMs: rest });
    if (again.some((s) => s.error === undefined)) return statuses.map((s) => again.find((a) => a.endpoint === s.endpoint) ?? s);
  }
  const waited = Number(((Date.now() - started) / 1000).toFixed(1));
  const refused = statuses.filter((s) => s.silent !== true).map((s) => `; ${s.endpoint}: ${s.error}`);
  throw new EndpointsSilentError(
    `asking etcd for its status failed at ${silent.join(',')}: etcd did not answer within ${waited} s (RS_ETCD_TIMEOUT, ${cfg.timeoutMs / 1000} s, counted from the first request: is etcd stopped, frozen or overloaded?)${refused.join('')}`,
  );
}

/** No endpoint answered the one-cluster check within RS_ETCD_TIMEOUT: their cluster is not known (see silentToTheEnd). */
export class EndpointsSilentError extends EtcdUnansweredError {
  override name = 'EndpointsSilentError';
}

/**
 * The endpoints an operation may use after the check: not those that had not told their cluster a second after the
 * others did (late). A frozen member is one, but so is a live member of another cluster that answers slowly (a stale
 * DNS name, a member of another environment over a slow link): kept among the endpoints, it was where a snapshot
 * broken mid-way was taken again, and stored as this cluster's. `checkedCluster` is the cluster the members that
 * answered are of, which a snapshot's member must be of too (current-member.ts) and every page of a key dump
 * (paged-reader.ts), and every answer of run's watch of changes (delta-watch.ts).
 * `checkedVersion` is etcd's version as those answers told it, which a key dump records (key-reader.ts).
 */
export function pinnedEndpoints(cfg: EtcdConfig, { late, statuses }: PassOver): EtcdConfig {
  const cluster = statuses.find((s) => s.cluster !== undefined)?.cluster;
  if (cluster === undefined) return cfg;
  const version = answeredStatus(statuses)?.version;
  return { ...cfg, endpoints: cfg.endpoints.filter((e) => !late.includes(e)), checkedCluster: cluster, ...(version !== undefined && { checkedVersion: version }) };
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
  /** etcd's version and the size of its database file, as the same answer told them (explore and stats show them). */
  version?: string;
  dbSize?: number;
  /** Not answered `lateMs` after another endpoint did (see endpointStatuses): `error` says so. */
  late?: boolean;
  /** No answer within the time it was given (frozen, overloaded), rather than a refusal: `error` says so. */
  silent?: boolean;
}

/**
 * Every configured endpoint's status, each asked once within ASK_MS: the client reaches any member without a word, so
 * `explore` says which member is down, which one leads, and which has no leader or lags behind the others. With
 * `lateMs`, an endpoint still silent that long after another one answered is given up on.
 */
export async function endpointStatuses(cfg: EtcdConfig, signal?: AbortSignal, opts: { lateMs?: number; askMs?: number } = {}): Promise<EndpointStatus[]> {
  const late = lateWatch(cfg.endpoints.length, opts.lateMs);
  const ask = async (endpoint: string, index: number): Promise<EndpointStatus> => {
    const one = { ...cfg, endpoints: [endpoint], timeoutMs: Math.min(cfg.timeoutMs, opts.askMs ?? ASK_MS) };
    const client = createEtcdClient(one, { oneAttempt: true });
    try {
      const s = await Promise.race([client.maintenance.status(), late.givenUp]);
      if (s === undefined) return { endpoint, late: true, error: `no answer within ${opts.lateMs! / 1000} s of another endpoint's (frozen?)` };
      late.settled(index, true);
      return endpointStatusOf(endpoint, s);
    } catch (err) {
      late.settled(index, false);
      const error = describeError(toEtcdError(err, 'asking for its status', one));
      return /did not answer within|deadline/i.test(error) ? { endpoint, error, silent: true } : { endpoint, error };
    } finally {
      client.close();
    }
  };
  const asked = Promise.all(cfg.endpoints.map(ask)).finally(late.stop);
  return signal ? await untilAborted(asked, signal) : await asked;
}

/** `endpoint`'s answer to Maintenance.Status as EndpointStatus shows it. */
export function endpointStatusOf(endpoint: string, s: IStatusResponse): EndpointStatus {
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
    version: s.version,
    dbSize: Number(s.dbSize),
  };
}

/**
 * Of the statuses the one-cluster check got, one that tells the cluster's facts (etcd's version, the database size)
 * as a status asked of any member would: one that answered and knows a leader, else one that answered. Explore and
 * stats take it rather than asking a member once more.
 */
export function answeredStatus(statuses: readonly EndpointStatus[]): EndpointStatus | undefined {
  const answered = statuses.filter((s) => s.error === undefined && s.version !== undefined);
  return answered.find((s) => s.leader !== '0') ?? answered[0];
}

/**
 * Tells when to give up on the endpoints not settled yet: `lateMs` after the first answer. `givenUp` resolves
 * (undefined) then; never without `lateMs`.
 */
function lateWatch(count: number, lateMs: number | undefined): { givenUp: Promise<undefined>; settled: (index: number, answered: boolean) => void; stop: () => void } {
  let giveUp = () => undefined as void;
  const givenUp = new Promise<undefined>((resolve) => (giveUp = () => resolve(undefined)));
  const done = new Set<number>();
  let anyAnswered = false;
  let timer: NodeJS.Timeout | undefined;
  const settled = (index: number, answered: boolean) => {
    done.add(index);
    anyAnswered ||= answered;
    if (lateMs === undefined || timer !== undefined || !anyAnswered || done.size === count) return;
    timer = setTimeout(giveUp, lateMs);
    timer.unref();
  };
  return { givenUp, settled, stop: () => clearTimeout(timer) };
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

/** A member of the cluster as the member that answered lists it, and whether it answered the status check. */
export interface QuorumMember {
  id: string;
  name: string;
  clientURLs: string[];
  peerURLs: string[];
  answered: boolean;
}

/**
 * The cluster has lost its quorum: fewer than a majority of its members answer, and none of them knows a leader, so
 * etcd can neither read (a linearizable read needs the leader) nor write, and every request would be retried until
 * RS_ETCD_TIMEOUT and then blamed on one member that is down. Carries what the check found (each endpoint's status,
 * the members), for explore to report.
 */
export class QuorumLostError extends EtcdError {
  override name = 'QuorumLostError';
  constructor(
    readonly statuses: EndpointStatus[],
    readonly members: QuorumMember[],
  ) {
    super(quorumLostMessage(members));
  }

  /** Members needed for a quorum: a majority. */
  get needed(): number {
    return Math.floor(this.members.length / 2) + 1;
  }
}

/** Whether every endpoint that answered knows no leader (and at least one answered). */
export function leaderless(statuses: readonly EndpointStatus[]): boolean {
  const answered = statuses.filter((s) => s.error === undefined);
  return answered.length > 0 && answered.every((s) => s.leader === '0');
}

/**
 * Given statuses where no member that answered knows a leader: the error to fail with when the members that answer
 * are fewer than a quorum of the cluster's members (as an answering member lists them; without its list, the
 * configured endpoints), which no election can mend; undefined when a quorum answers (a leader is being elected, the
 * operation's own retries wait for it).
 */
export async function quorumLost(cfg: EtcdConfig, statuses: EndpointStatus[]): Promise<QuorumLostError | undefined> {
  const answered = statuses.filter((s) => s.error === undefined);
  const members = (await listedMembers(cfg, answered)) ?? cfg.endpoints.map((endpoint) => ({ id: '', name: endpoint, clientURLs: [endpoint], peerURLs: [], answered: answered.some((a) => a.endpoint === endpoint) }));
  // Members none of the endpoints names (one endpoint given: the member left) are asked at the client URLs the list
  // gives: one that knows a leader means the quorum is not lost.
  const unasked = members.filter((m) => !m.answered && m.clientURLs.length > 0 && !m.clientURLs.some((u) => cfg.endpoints.includes(u)));
  const others = unasked.length > 0 ? await endpointStatuses({ ...cfg, endpoints: unasked.map((m) => m.clientURLs[0]!) }) : [];
  if (others.some((o) => o.error === undefined && o.leader !== '0')) return undefined;
  for (const o of others) {
    const member = members.find((m) => m.id === o.memberId);
    if (o.error === undefined && member !== undefined) member.answered = true;
  }
  const up = members.filter((m) => m.answered).length;
  return up < Math.floor(members.length / 2) + 1 ? new QuorumLostError([...statuses, ...others], members) : undefined;
}

/** The cluster's members as the first answering member lists them, each marked whether it answered; undefined if none lists. */
async function listedMembers(cfg: EtcdConfig, answered: readonly EndpointStatus[]): Promise<QuorumMember[] | undefined> {
  for (const s of answered) {
    const client = createEtcdClient({ ...cfg, endpoints: [s.endpoint], timeoutMs: Math.min(cfg.timeoutMs, ASK_MS) }, { oneAttempt: true });
    try {
      const list = await client.cluster.memberList({});
      const ids = new Set(answered.map((a) => a.memberId));
      return list.members.map((m) => ({ id: m.ID, name: m.name, clientURLs: m.clientURLs, peerURLs: m.peerURLs, answered: ids.has(m.ID) }));
    } catch {
      // Asked of the next one that answered.
    } finally {
      client.close();
    }
  }
  return undefined;
}

function quorumLostMessage(members: readonly QuorumMember[]): string {
  const named = (m: QuorumMember) => `${m.name}${m.clientURLs.length > 0 && m.clientURLs[0] !== m.name ? ` at ${m.clientURLs.join(',')}` : ''}`;
  const up = members.filter((m) => m.answered);
  const down = members.filter((m) => !m.answered);
  const needed = Math.floor(members.length / 2) + 1;
  return (
    `etcd has lost its quorum: ${up.length} of its ${members.length} members answer${up.length > 0 ? ` (${up.map(named).join('; ')})` : ''} and none knows a leader; ` +
    `${down.length > 0 ? `${down.map(named).join('; ')} ${down.length === 1 ? 'does' : 'do'} not answer. ` : ''}` +
    `etcd needs a quorum, ${needed} of ${members.length} members, before anything can be read or written: bring the members that are down back ` +
    `(they rejoin on their own), or, if they are lost, restore the last backup into a new cluster (README "Disaster recovery")`
  );
}
