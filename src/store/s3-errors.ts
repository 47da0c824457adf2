import { describeError } from '../core/errors.js';

/** SDK error names of failures that may pass on their own (throttling, a busy or restarting server). */
const TRANSIENT = new Set([
  'TimeoutError', 'RequestTimeout', 'RequestTimeoutException', 'ServiceUnavailable', 'SlowDown', 'InternalError',
  'ThrottlingException', 'Throttling', 'NetworkingError', 'RequestTimeTooSkewed',
]);
/** Errors of a server that did not answer at all. */
const NETWORK = /ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|socket hang up/i;

/** What an SDK error looks like, as far as we read it. */
export interface SdkError {
  name?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
}

/** An attempt cut off by our own deadline: the server did not answer in time. */
export class DeadlineExceeded extends Error {
  override name = 'DeadlineExceeded';
  constructor(readonly timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms`);
  }
}

/** The HTTP status of an SDK error, if the server answered at all. */
export const statusOf = (err: unknown): number | undefined => (err as SdkError | undefined)?.$metadata?.httpStatusCode;

/** A failure of the network: nothing (or nothing complete) came back from the server. */
export function isNetworkError(err: unknown): boolean {
  if (err instanceof DeadlineExceeded) return true;
  const e = err as SdkError | undefined;
  return statusOf(err) === undefined && NETWORK.test(`${e?.code ?? ''} ${describeError(err)}`);
}

/** Whether retrying the same request may succeed: throttling, 5xx, a network failure, our deadline. */
export function isTransient(err: unknown): boolean {
  if (err instanceof DeadlineExceeded) return true;
  const status = statusOf(err);
  return TRANSIENT.has((err as SdkError | undefined)?.name ?? '') || (status !== undefined && (status >= 500 || status === 429)) || isNetworkError(err);
}
