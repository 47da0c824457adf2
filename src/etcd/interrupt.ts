import { AsyncLocalStorage } from 'node:async_hooks';
import { AbortedError, describeError } from '../core/errors.js';

/**
 * The abort signal of the operation on whose behalf etcd is called (SIGTERM/SIGINT, a cancelled job). It travels with
 * the operation's async context rather than as a parameter because etcd3 calls our retry policy without a signal, and
 * v2 clients are made in many places that hold only the config. Without it a backup told to stop while etcd was down
 * or frozen went on waiting for the call's retries, up to RS_ETCD_TIMEOUT, past a pod's grace period.
 */
const operations = new AsyncLocalStorage<{ signal: AbortSignal; onWait?: OnWait }>();

/** Told once per call that etcd has not answered for a while and the call goes on retrying (for a log line). */
export type OnWait = (wait: { error: unknown; waitedMs: number }) => void;

/**
 * Runs `fn` so that every etcd request it makes (v3 and v2, retries and backoff included) ends when `signal` aborts;
 * `onWait` hears of a v3 call still retrying after a second, so a long wait for etcd is not silent.
 */
export function interruptibleBy<T>(signal: AbortSignal, fn: () => Promise<T>, onWait?: OnWait): Promise<T> {
  return operations.run(onWait === undefined ? { signal } : { signal, onWait }, fn);
}

/** The signal of the operation in whose context this runs, if it has one. */
export function currentInterrupt(): AbortSignal | undefined {
  return operations.getStore()?.signal;
}

/** Who hears of a long wait for etcd in this operation, if anyone. */
export function currentOnWait(): OnWait | undefined {
  return operations.getStore()?.onWait;
}

/** An etcd request given up because its operation was interrupted: the operation says what that cut short. */
export class EtcdInterruptedError extends AbortedError {
  override name = 'EtcdInterruptedError';
}

/** The error an etcd request ends with when its operation was interrupted. */
export function interruptedError(signal: AbortSignal): EtcdInterruptedError {
  const why = signal.reason instanceof Error ? ` (${describeError(signal.reason)})` : '';
  return new EtcdInterruptedError(`interrupted${why} while waiting for etcd`);
}
