import { AsyncLocalStorage } from 'node:async_hooks';

/** How long the work of one caller may wait on a remote server in all: `ms` in all, until `deadline` (epoch ms). */
export interface WaitBudget {
  ms: number;
  deadline: number;
  /** Names the budget in messages: `the API waits at most 20s for an answer`. */
  what: string;
}

const current = new AsyncLocalStorage<WaitBudget>();

/**
 * Runs `fn` with a budget of `ms` for waiting on remote servers (S3Sender's retries and attempts end by it): an HTTP
 * API read answers with the failure that names the cause before a reverse proxy in front gives up on it (ingress-nginx
 * and AWS load balancers wait 60 s, Google's 30 s) and answers its own 504 that names nothing.
 */
export function withWaitBudget<T>(ms: number, what: string, fn: () => Promise<T>): Promise<T> {
  return current.run({ ms, deadline: Date.now() + ms, what }, fn);
}

/** Runs `fn` outside any budget: work that outlives the request that started it (a job, a streamed body). */
export function withoutWaitBudget<T>(fn: () => T): T {
  return current.exit(fn);
}

/** The budget of the work running now, if it has one. */
export function waitBudget(): WaitBudget | undefined {
  return current.getStore();
}
