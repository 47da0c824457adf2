import { AsyncLocalStorage } from 'node:async_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectivityState, InterceptingCall, status, type CallOptions, type Channel, type Interceptor } from '@grpc/grpc-js';
import { noop, type IDefaultPolicyContext, type IPolicy } from 'cockatiel';
import { GRPCDeadlineExceededError, GRPCResourceExhastedError, GRPCUnavailableError, type IOptions } from 'etcd3';
import { budgetAnswered, budgetedWait, type WaitBudget } from '../core/wait-budget.js';
import type { Etcd3Pool } from './etcd3-pool.js';
import { currentInterrupt, currentOnWait, interruptedError } from './interrupt.js';

/**
 * The etcd3 client's fault handling, set deliberately. Its default is a retry of three attempts, each with a deadline
 * of its own (so RS_ETCD_TIMEOUT=30s waited 90 s and more for a paused etcd), around a circuit breaker per host that
 * opens after three failures of any "recoverable" kind, RESOURCE_EXHAUSTED included: one page too big for gRPC's
 * limit, retried three times, opened it, and the smaller page asked for next failed with "Execution prevented because
 * the circuit breaker is open", which named neither the cause nor the key. Here:
 * - one deadline for a whole call, retries included (`RS_ETCD_TIMEOUT`): every attempt of a call gets the deadline
 *   of the call, and no attempt starts after it;
 * - retries with backoff only for transient errors (unreachable, connection dropped, no leader, leader changed, too
 *   many requests, a revision a member has not applied yet), each on the next host: a member that died is left for
 *   another;
 * - no circuit breaker: a host that failed to answer is skipped for a few seconds while another one is thought
 *   healthy, and tried again when none is, so one refused request never fails a backup by itself;
 * - every other error (size limits, permission, authentication, compaction, deadline) comes through unchanged, for
 *   our messages to name it;
 * - a transient failure that `explain` says more about (an http:// endpoint that speaks TLS) ends the call at once,
 *   as what it says;
 * - an operation that is stopped (SIGTERM, see interrupt.ts) ends its call at once: the attempt in flight is
 *   cancelled, a backoff cut short, and no other attempt starts.
 * Streams (the snapshot) have no deadline and are not retried (they restart from the beginning).
 */
export function faultHandling(timeoutMs: number, explain?: Explain, hostCount = 1, channels?: HostChannels): Pick<IOptions, 'faultHandling' | 'defaultCallOptions'> {
  const hosts = new HostFailover(hostCount > 1 ? channels : undefined);
  // With several members, one attempt may not take the whole call's time: a member that is frozen (SIGSTOP, a hung
  // VM, packets dropped) answers nothing and fails nothing, and would hold every call sent to it until the deadline
  // although the others answer. Its attempt is cut short, and the call goes on with another member.
  const attemptMs = hostCount > 1 ? Math.max(MIN_ATTEMPT_MS, Math.floor(timeoutMs / 3)) : timeoutMs;
  return {
    faultHandling: { global: new WholeCallDeadline(timeoutMs, explain, attemptMs < timeoutMs), host: (host) => hosts.policyFor(host) },
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : attemptOptions(timeoutMs, attemptMs)),
  };
}

/** The shortest time one attempt is given with several members (etcd's own linearizable read gives up after 7 s). */
const MIN_ATTEMPT_MS = 10_000;
/**
 * The gRPC channel of each host, by its place in the endpoints (undefined once the client is closed): what the first
 * attempt on a host not yet connected looks at (see HostFailover.unconnected).
 */
export type HostChannels = (index: number) => Pick<Channel, 'getConnectivityState'> | undefined;
/**
 * How long a host whose connection is not made yet may take to make it once another host's is made, before the call
 * goes on with that one: a frozen member (SIGSTOP, a hung VM) takes the TCP connection but never completes HTTP/2's.
 */
export const CONNECT_GRACE_MS = 1_000;
/** How long the first attempt on a host waits for any host's connection, before it goes ahead as any attempt does. */
const CONNECT_WAIT_MS = 3_000;
/** How long a member whose attempt was cut short for not answering is passed over while another one is healthy. */
const SKIP_SILENT_HOST_MS = 30_000;

/**
 * Asked about a transient failure: an error that says better what it is (an http:// endpoint that speaks TLS, see
 * errors.ts), which then ends the call at once, for it would fail the same way until the deadline; or undefined.
 */
export type Explain = (err: unknown) => Promise<Error | undefined>;

/**
 * Attempts of one call, at most (each after a backoff): enough that the call's deadline ends them first (30 s by
 * default: an etcd restarting, or a cluster electing a leader, is waited for), and a bound all the same.
 */
const MAX_ATTEMPTS = 20;
/** The first retry waits about this long, later ones up to twice as long each, at most MAX_DELAY_MS. */
const FIRST_DELAY_MS = 100;
const MAX_DELAY_MS = 2_000;
/** A call still retrying after this long is said (once), so a wait for an etcd that is down is not silent. */
const SAY_WAITING_AFTER_MS = 1_000;
/** How long a host that failed to answer is passed over while another one is healthy (etcd3's breaker waited 5 s). */
const SKIP_HOST_MS = 5_000;

const TLS_FAILURE = /certificate|handshake|ssl|tls|alert|wrong.version.number|self.signed|unable to (verify|get)|altnames|http request/i;

/** An etcd error worth another attempt, on another host: the cluster or the connection, not the request. */
export function isTransient(err: unknown): boolean {
  if (err instanceof HostSkipped || err instanceof HostTlsRefused) return true;
  // A TLS handshake that failed fails the same way every time (wrong CA, expired or refused certificate, plain http).
  if (err instanceof GRPCUnavailableError) return !TLS_FAILURE.test(err.message);
  // etcd's own throttle ("etcdserver: too many requests") shares its code with gRPC's size limit: only it is retried.
  if (err instanceof GRPCResourceExhastedError) return /too many requests/i.test(err.message);
  // A member that has not applied the revision a read is pinned to yet (reads are serializable): it will.
  return err instanceof Error && /required revision is a future revision/i.test(err.message);
}

/** How a call that was retried ended: how many attempts it made, over how long. */
export interface GaveUp {
  attempts: number;
  elapsedMs: number;
}

const gaveUp = new WeakMap<object, GaveUp>();
const budgetEnded = new WeakMap<object, WaitBudget>();

/** The wait budget (core/wait-budget.ts), not RS_ETCD_TIMEOUT, ended the call that threw `err`. */
export function markBudgetEnded(err: unknown, budget: WaitBudget): void {
  if (typeof err === 'object' && err !== null) budgetEnded.set(err, budget);
}

/** The wait budget that ended the call behind an error, if one did. */
export function budgetBehind(err: unknown): WaitBudget | undefined {
  return typeof err === 'object' && err !== null ? budgetEnded.get(err) : undefined;
}

/** The attempts behind an error thrown by a call that was retried (undefined after a single attempt). */
export function attemptsBehind(err: unknown): GaveUp | undefined {
  return typeof err === 'object' && err !== null ? gaveUp.get(err) : undefined;
}

interface CallState {
  deadline: number;
  /** Whether an abort of the operation (see interrupt.ts) should cancel the attempt in flight. */
  interruptible: boolean;
  /** Cancels the gRPC request of the attempt in flight (set by its interceptor). */
  cancelAttempt?: (() => void) | undefined;
  started: number;
  attempts: number;
  lastError?: unknown;
  /** The last transient error: what a call that then ran out of time was up against. */
  transient?: unknown;
  /** Whether the wait was said (see SAY_WAITING_AFTER_MS). */
  said?: boolean;
}

/** The call in progress, seen by the call options (its deadline, its cancel) and by the retry (whether time is left). */
const calls = new AsyncLocalStorage<CallState>();

/** The global policy: one deadline for the whole call, retries of transient errors with backoff within it. */
class WholeCallDeadline implements IPolicy<IDefaultPolicyContext> {
  declare readonly _altReturn: never;
  readonly onSuccess = noop.onSuccess;
  readonly onFailure = noop.onFailure;

  constructor(
    private readonly timeoutMs: number,
    private readonly explain?: Explain,
    /** Whether attempts have a shorter deadline than the call (several members): one that times out is retried. */
    private readonly attemptsCutShort = false,
  ) {}

  async execute<T>(fn: (context: IDefaultPolicyContext) => PromiseLike<T> | T): Promise<T> {
    const interrupt = currentInterrupt();
    if (interrupt?.aborted) throw interruptedError(interrupt);
    const started = Date.now();
    // An API read answers before a proxy in front gives up (core/wait-budget.ts): its budget may end the call sooner.
    const wait = budgetedWait(this.timeoutMs, started);
    const call: CallState = { deadline: started + wait.ms, started, attempts: 0, interruptible: interrupt !== undefined };
    const onAbort = () => call.cancelAttempt?.();
    interrupt?.addEventListener('abort', onAbort, { once: true });
    try {
      const answer = await calls.run(call, () => this.attempts(call, fn, interrupt));
      budgetAnswered();
      return answer;
    } catch (caught) {
      // An attempt that waited for a connection until the deadline says only "deadline exceeded": the refused or
      // dropped connections before it say why.
      const timedOut = caught instanceof AttemptCutShort ? caught.timeout : caught;
      const err = timedOut instanceof GRPCDeadlineExceededError && call.transient !== undefined ? call.transient : timedOut;
      if (call.attempts > 1 && typeof err === 'object' && err !== null) gaveUp.set(err, { attempts: call.attempts, elapsedMs: Date.now() - started });
      if (wait.budget !== undefined && Date.now() + FIRST_DELAY_MS >= call.deadline) markBudgetEnded(err, wait.budget);
      throw err;
    } finally {
      interrupt?.removeEventListener('abort', onAbort);
    }
  }

  /**
   * The attempts of one call. A loop of our own rather than cockatiel's retry: its backoff sleeps on regardless of
   * the signal, so a backup stopped during a 2-second wait would hold the process for it.
   */
  private async attempts<T>(call: CallState, fn: (context: IDefaultPolicyContext) => PromiseLike<T> | T, interrupt: AbortSignal | undefined): Promise<T> {
    for (let delayMs = FIRST_DELAY_MS; ; delayMs = Math.min(delayMs * 2, MAX_DELAY_MS)) {
      call.attempts++;
      try {
        return await fn({ signal: interrupt ?? NEVER_ABORTED });
      } catch (failed) {
        // The attempt was cancelled, or failed while the operation was stopping: either way nobody wants the answer.
        if (interrupt?.aborted) throw interruptedError(interrupt);
        const err = (this.attemptsCutShort ? cutShort(failed, call) : undefined) ?? (this.explain !== undefined && isTransient(failed) ? await this.explain(failed) : undefined) ?? failed;
        call.lastError = err;
        if (isTransient(err) && !(err instanceof HostSkipped) && !(err instanceof HostTlsRefused) && !(err instanceof AttemptCutShort)) call.transient = err;
        // No retry that could not start before the deadline: it would only fail with DEADLINE_EXCEEDED.
        if (!isTransient(err) || call.attempts >= MAX_ATTEMPTS || Date.now() + FIRST_DELAY_MS >= call.deadline) throw err;
        const waitedMs = Date.now() - call.started;
        if (!call.said && waitedMs >= SAY_WAITING_AFTER_MS && !(err instanceof HostSkipped) && !(err instanceof HostTlsRefused)) {
          call.said = true;
          currentOnWait()?.({ error: err, waitedMs });
        }
      } finally {
        call.cancelAttempt = undefined;
      }
      // Jitter, so that clients that failed together do not all come back at once; never past the deadline.
      await pause(Math.min(delayMs * (0.5 + Math.random() / 2), Math.max(0, call.deadline - Date.now())), interrupt);
      // A backoff that ran past the deadline: the call ends with the error that made it wait, not a timeout.
      if (Date.now() >= call.deadline) throw call.lastError;
    }
  }
}

/**
 * An attempt that ran out of its own time (see faultHandling's attemptMs) well before the call's deadline: its member
 * did not answer, so the call goes on with another, as after a refused connection.
 */
function cutShort(err: unknown, call: CallState): Error | undefined {
  if (!(err instanceof GRPCDeadlineExceededError) || Date.now() + FIRST_DELAY_MS >= call.deadline) return undefined;
  return new AttemptCutShort(err);
}

/** An attempt cut short for want of an answer (retried on another member); a call that ends on it ends as a timeout. */
class AttemptCutShort extends GRPCUnavailableError {
  override name = 'AttemptCutShort';
  constructor(readonly timeout: GRPCDeadlineExceededError) {
    super(`no answer within the time one attempt is given: ${timeout.message}`);
  }
}

/** Waits `ms`, or until `interrupt` aborts: then throws what an interrupted call throws. */
async function pause(ms: number, interrupt: AbortSignal | undefined): Promise<void> {
  try {
    await sleep(ms, undefined, interrupt && { signal: interrupt });
  } catch (err) {
    throw interrupt?.aborted ? interruptedError(interrupt) : err;
  }
}

/**
 * The gRPC call options of an attempt: the call's deadline and, for an operation that can be interrupted, an
 * interceptor that hands the attempt's cancel to the call, so that an abort ends a request etcd sits on (a frozen
 * member, a connection that never opens) at once rather than at its deadline.
 */
function attemptOptions(timeoutMs: number, attemptMs: number): CallOptions {
  const call = calls.getStore();
  const deadline = Math.min(call?.deadline ?? Date.now() + timeoutMs, Date.now() + attemptMs);
  if (call === undefined || !call.interruptible) return { deadline };
  const cancellable: Interceptor = (options, nextCall) => {
    const attempt = new InterceptingCall(nextCall(options));
    call.cancelAttempt = () => attempt.cancelWithStatus(status.CANCELLED, 'interrupted');
    return attempt;
  };
  return { deadline, interceptors: [cancellable] };
}

/** Thrown instead of calling a host that failed lately while another is healthy; the pool then tries the next host. */
export class HostSkipped extends Error {
  override name = 'HostSkipped';
  constructor(readonly host: string, why = `it failed to answer less than ${SKIP_HOST_MS / 1000} s ago`) {
    super(`skipped ${host}: ${why}`);
  }
}

/**
 * Thrown instead of a TLS failure of one host (its certificate names another host, is signed by another CA, has
 * expired) while other hosts are left: the call goes on with them, as etcdctl's balancer does, rather than failing
 * although the other members answer. The host is passed over from then on; the last one's failure is thrown as it is.
 */
export class HostTlsRefused extends Error {
  override name = 'HostTlsRefused';
  constructor(
    readonly host: string,
    readonly error: Error,
  ) {
    super(`the TLS handshake with ${host} failed: ${error.message}`);
  }
}

/**
 * Told to the pool (markFailed) for a member that knows no leader while others do: cut off from them, its linearizable
 * reads wait etcd's own 7 s and fail, so it is passed over as one that does not answer, for as long.
 */
export class MemberCutOff extends GRPCUnavailableError {
  override name = 'MemberCutOff';
}

/** An endpoint as etcd3's connection pool names its host (`host:port`, without the scheme). */
export function poolHostOf(endpoint: string): string {
  return endpoint.replace(/^https?:\/\//, '');
}

/** The host (`host:port`, as the pool names it) whose TLS handshake an error is the failure of, if known. */
const tlsHosts = new WeakMap<object, string>();
export const tlsFailedHost = (err: unknown): string | undefined => (typeof err === 'object' && err !== null ? tlsHosts.get(err) : undefined);

const NEVER_ABORTED = new AbortController().signal;

/** True while the pool is told of a failure (markHostFailed): the host's policy then records it at once. */
let telling = false;

/**
 * Tells the pool that `host` (one of its Hosts) failed, as etcd3's markFailed does, recorded by the failover before
 * this returns: a call made right after passes the host over. (etcd3 records it by running the host's policy with a
 * call that throws, and a policy that first waited for the host's connection would record it only after that wait,
 * while the next call went to the host.)
 */
export function markHostFailed(pool: Pick<Etcd3Pool, 'markFailed'>, host: unknown, err: unknown): void {
  telling = true;
  try {
    pool.markFailed(host, err);
  } finally {
    telling = false;
  }
}

/** The per-host policies: pass over a host that failed to answer lately, unless every host did. */
class HostFailover {
  private readonly failedAt = new Map<string, number>();
  /** When a host last left an attempt unanswered until its deadline (frozen, packets dropped). */
  private readonly silentAt = new Map<string, number>();
  /** Hosts whose TLS handshake failed: that does not mend itself, so they are passed over while another is left. */
  private readonly refused = new Set<string>();
  private readonly hosts: string[] = [];

  constructor(private readonly channels?: HostChannels) {}

  policyFor(host: string): IPolicy<IDefaultPolicyContext> {
    const index = this.hosts.push(host) - 1;
    const others = () => this.hosts.filter((h) => h !== host && !this.refused.has(h));
    const execute = async <T>(fn: (context: IDefaultPolicyContext) => PromiseLike<T> | T, signal?: AbortSignal): Promise<T> => {
      // Run synchronously by markHostFailed: the failure it tells of is recorded before it returns.
      const told = telling;
      if (this.refused.has(host) && others().length > 0) throw new HostSkipped(host);
      if (this.skipping(host) && this.hosts.some((h) => !this.skipping(h) && !this.refused.has(h))) throw new HostSkipped(host);
      if (!told && (await this.unconnected(index))) {
        this.silentAt.set(host, Date.now());
        throw new HostSkipped(host, `its connection was not made within ${CONNECT_GRACE_MS / 1000} s of another member's`);
      }
      try {
        const result = await fn({ signal: signal ?? NEVER_ABORTED });
        this.failedAt.delete(host);
        this.silentAt.delete(host);
        return result;
      } catch (err) {
        if (err instanceof GRPCDeadlineExceededError || err instanceof MemberCutOff) this.silentAt.set(host, Date.now());
        if (!(err instanceof GRPCUnavailableError)) throw err;
        this.failedAt.set(host, Date.now());
        if (!TLS_FAILURE.test(err.message)) throw err;
        tlsHosts.set(err, host);
        if (others().length === 0) throw err;
        if (!this.refused.has(host)) currentOnWait()?.({ error: new HostTlsRefused(host, err), waitedMs: 0 });
        this.refused.add(host);
        throw new HostTlsRefused(host, err);
      }
    };
    return { _altReturn: undefined as never, onSuccess: noop.onSuccess, onFailure: noop.onFailure, execute };
  }

  /**
   * Whether host `index` has no connection yet while another host made one: a fresh process's first call sent to a
   * frozen member would otherwise wait the whole time of an attempt (10 s and more) before going to the next member.
   * Every host is asked to connect; the host is passed over once another is connected and it is still connecting (it
   * took the TCP connection and never answers), CONNECT_GRACE_MS after the look began. While no host connects, the attempt goes ahead after CONNECT_WAIT_MS as it always did.
   */
  private async unconnected(index: number): Promise<boolean> {
    const state = (i: number) => {
      try {
        return this.channels?.(i)?.getConnectivityState(true);
      } catch {
        return undefined;
      }
    };
    const own = state(index);
    if (own === undefined || own === connectivityState.READY) return false;
    const peers = this.hosts.flatMap((h, i) => (i !== index && !this.refused.has(h) ? [i] : []));
    const interrupt = currentInterrupt();
    for (const started = Date.now(); Date.now() - started < CONNECT_WAIT_MS && !interrupt?.aborted; await sleep(20)) {
      // Made, or failed (refused, a TLS handshake that failed): the attempt goes ahead and fails at once saying why.
      const now = state(index);
      if (now !== connectivityState.CONNECTING && now !== connectivityState.IDLE) return false;
      if (Date.now() - started >= CONNECT_GRACE_MS && peers.some((i) => state(i) === connectivityState.READY)) return true;
    }
    return false;
  }

  private skipping(host: string): boolean {
    const at = this.failedAt.get(host);
    const silent = this.silentAt.get(host);
    return (at !== undefined && Date.now() - at < SKIP_HOST_MS) || (silent !== undefined && Date.now() - silent < SKIP_SILENT_HOST_MS);
  }
}
