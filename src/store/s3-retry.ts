import type { S3Client } from '@aws-sdk/client-s3';
import { describeError } from '../core/errors.js';
import { budgetAnswered, budgetedWait, type WaitBudget } from '../core/wait-budget.js';
import type { Logger } from '../log.js';
import { DeadlineExceeded, isClockSkew, isTransient } from './s3-errors.js';

/** How S3 requests are bounded in time. */
export interface RetryPolicy {
  /** Deadline of one attempt (RS_S3_REQUEST_TIMEOUT). */
  requestTimeoutMs: number;
  /** No new attempt starts later than this after the first (RS_S3_RETRY_WINDOW). */
  windowMs: number;
  /** First backoff ceiling; doubles per attempt up to `maxDelayMs` (full jitter: a random delay below it). */
  baseDelayMs?: number;
  maxDelayMs?: number;
}

/** A request that failed for good: the last error, and how long and how often it was tried. */
export class RetriesExhausted extends Error {
  override name = 'RetriesExhausted';
  constructor(
    readonly last: unknown,
    readonly attempts: number,
    readonly elapsedMs: number,
    readonly transient: boolean,
    /** The caller's wait budget, when that (not RS_S3_RETRY_WINDOW) ended the retries. */
    readonly budget?: WaitBudget,
  ) {
    super(describeError(last), { cause: last });
  }
}

/** Any command of the S3 client (the SDK's own overloads do not accept a union of them). */
type Sendable = object;

/**
 * Sends S3 commands with a deadline on every attempt and retries over a window of time. The SDK's own timeouts do not
 * bound a request: its `requestTimeout` only prints a warning unless `throwOnRequestTimeout` is set, and a server
 * that stops answering mid-body (paused, blackholed) otherwise holds the request forever. Here each attempt gets an
 * AbortSignal that fires at the deadline; a transient failure (the deadline, a refused or reset connection, 5xx,
 * throttling) is retried with exponential backoff and full jitter until `windowMs` has passed since the first
 * attempt, which outlasts an S3 server restarting. The SDK's own retries are off (maxAttempts 1): one policy, one
 * count of attempts to report.
 */
export class S3Sender {
  private readonly base: number;
  private readonly max: number;

  constructor(
    private readonly client: S3Client,
    readonly policy: RetryPolicy,
    private readonly log?: Logger,
  ) {
    this.base = policy.baseDelayMs ?? 250;
    this.max = policy.maxDelayMs ?? 10_000;
  }

  /**
   * Sends `command` until it succeeds, fails for good (RetriesExhausted), or `signal` fires (its abort error).
   * `what` names the request in log lines; `windowMs` (default the policy's) is how long it may keep retrying, and
   * `until` (epoch ms) when every attempt is cut at the latest (a resumed download within an API's wait budget).
   */
  async send<T>(command: Sendable, what: string, signal?: AbortSignal, windowMs = this.policy.windowMs, until?: number): Promise<T> {
    const started = Date.now();
    // A caller that must answer in time (an API read: core/wait-budget.ts) stops retrying, and cuts an attempt, then;
    // a diff or stats, once answered, waits no longer than the budget's length for any one request.
    const { ms, budget } = budgetedWait(windowMs, started);
    const budgeted = budget !== undefined;
    if (budgeted) windowMs = ms;
    let skewed = 0;
    for (let attempt = 1; ; attempt++) {
      signal?.throwIfAborted();
      let err: unknown;
      try {
        const answer = (await this.attempt(command, signal, budgeted ? started + ms : until)) as T;
        budgetAnswered();
        return answer;
      } catch (e) {
        err = e;
      }
      if (signal?.aborted) throw err;
      const elapsed = Date.now() - started;
      const delay = Math.random() * Math.min(this.max, this.base * 2 ** (attempt - 1));
      // A clock too far off the server's: the SDK sets its own clock offset from the refusal's server time, so the
      // next attempt may pass. Refused again, the clock is not corrected by waiting: said at once, not after the window.
      const skewedAgain = isClockSkew(err) && ++skewed > 1;
      if (!isTransient(err) || skewedAgain || elapsed + delay >= windowMs) {
        throw new RetriesExhausted(err, attempt, elapsed, isTransient(err) && !skewedAgain, budgeted ? budget : undefined);
      }
      this.log?.warn({ request: what, attempt, delayMs: Math.round(delay), err: describeError(err) }, 'S3 request failed; retrying');
      await sleep(delay, signal);
    }
  }

  private async attempt(command: Sendable, signal: AbortSignal | undefined, until?: number): Promise<unknown> {
    const deadline = new AbortController();
    const timeout = until === undefined ? this.policy.requestTimeoutMs : Math.max(1, Math.min(this.policy.requestTimeoutMs, until - Date.now()));
    const timer = setTimeout(() => deadline.abort(new DeadlineExceeded(timeout)), timeout);
    // The deadline covers the attempt up to its response; a body read afterwards (GetObject) is the caller's, still
    // cut off by `signal`.
    const abortSignal = signal ? AbortSignal.any([signal, deadline.signal]) : deadline.signal;
    try {
      return await this.client.send(command as Parameters<S3Client['send']>[0], { abortSignal });
    } catch (err) {
      if (deadline.signal.aborted && !signal?.aborted) throw deadline.signal.reason;
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Waits `ms`, or less if `signal` fires (then throws its reason). */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
