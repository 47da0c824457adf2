import { AsyncLocalStorage } from 'node:async_hooks';

/** How long the work of one caller may wait on a remote server in all: `ms` in all, until `deadline` (epoch ms). */
export interface WaitBudget {
  ms: number;
  deadline: number;
  /** Names the budget in messages: `the API waits at most 20s for an answer`. */
  what: string;
  /**
   * Only until the first answer (a diff or stats, which read for as long as a whole backup or etcd takes): once a
   * server answered (budgetAnswered), the work reads on, each request waiting no longer than `ms` (budgetedWait).
   */
  untilAnswered?: boolean;
  answered?: boolean;
}

const current = new AsyncLocalStorage<WaitBudget>();

/**
 * Runs `fn` with a budget of `ms` for waiting on remote servers (S3Sender's retries and attempts end by it): an HTTP
 * API read answers with the failure that names the cause before a reverse proxy in front gives up on it (ingress-nginx
 * and AWS load balancers wait 60 s, Google's 30 s) and answers its own 504 that names nothing.
 */
export function withWaitBudget<T>(ms: number, what: string, fn: () => Promise<T>, opts: { untilAnswered?: boolean } = {}): Promise<T> {
  return current.run({ ms, deadline: Date.now() + ms, what, ...(opts.untilAnswered && { untilAnswered: true }) }, fn);
}

/** A remote server answered the work running now: a budget kept only until then (untilAnswered) ends. */
export function budgetAnswered(): void {
  const budget = current.getStore();
  if (budget?.untilAnswered) budget.answered = true;
}

/** Runs `fn` outside any budget: work that outlives the request that started it (a job, a streamed body). */
export function withoutWaitBudget<T>(fn: () => T): T {
  return current.exit(fn);
}

/**
 * How long a call that may wait `timeoutMs` of its own (RS_ETCD_TIMEOUT, an S3 request's RS_S3_RETRY_WINDOW) may
 * wait now: no longer than the budget of the work running, if it has one (`budget` then says that it, not
 * `timeoutMs`, is what bounds the call); after a budget kept until the first answer ended, no longer than the
 * budget's length, from now.
 */
export function budgetedWait(timeoutMs: number, now = Date.now()): { ms: number; budget?: WaitBudget } {
  const budget = current.getStore();
  if (budget === undefined) return { ms: timeoutMs };
  // Once a diff or stats was answered (untilAnswered), it reads for as long as the whole etcd or backup takes, but no
  // single call waits longer than the budget: an etcd or S3 that froze mid-read is answered for as one that never
  // answered (each call waited RS_ETCD_TIMEOUT or RS_S3_RETRY_WINDOW, past the wait the API says and a proxy's own).
  const deadline = budget.answered ? now + budget.ms : budget.deadline;
  if (deadline - now >= timeoutMs) return { ms: timeoutMs };
  return { ms: Math.max(0, deadline - now), budget };
}
