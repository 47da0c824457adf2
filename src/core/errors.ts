import { terminalSafe } from './printable.js';
/**
 * Our own error types. Foreign errors (gRPC, S3, fs) are converted into these once, at the adapter that
 * called the library, so the rest of the code and `cli-main.ts` only ever see these.
 */

/** Bad configuration or usage, found before any work is done: exit code 2. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly exitCode = 2;
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
  }
}

/**
 * The command line itself is wrong (an unknown word or flag, a missing argument, flags that do not go together):
 * exit code 2, with the command's usage after the problems.
 */
export class UsageError extends ConfigError {
  override name = 'UsageError';
  /** The command whose usage applies, when it is known. */
  constructor(problems: string[], readonly command?: string) {
    super(problems);
  }
}

/** The operation was attempted and failed: exit code 1. */
export class OperationError extends Error {
  override name = 'OperationError';
  readonly exitCode: number = 1;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The thing asked for (a backup id) does not exist: exit code 1, HTTP 404. */
export class NotFoundError extends OperationError {
  override name = 'NotFoundError';
}

/**
 * The operation was refused because it would break a rule the operator must lift explicitly (deleting the newest
 * backup of a series without --force): exit code 1, HTTP 409.
 */
export class RefusedError extends OperationError {
  override name = 'RefusedError';
}

/** etcd could not be reached, refused us, or broke off: exit code 1. */
export class EtcdError extends OperationError {
  override name = 'EtcdError';
}

/**
 * How a store request failed, decided once by the store adapter (local-store.ts from the fs error's code, s3-store.ts
 * from the SDK error's name and HTTP status) so that nothing else reads messages: `not-found` (no such object),
 * `denied` (credentials or permissions), `no-bucket` (the S3 bucket does not exist: every request fails alike),
 * `transient` (network, 5xx, throttling: still failing when the retries gave up), `other` (anything else: a full
 * disk, an aborted request).
 */
export type StoreFailure = 'not-found' | 'denied' | 'no-bucket' | 'transient' | 'other';

/** The backup store (local directory or S3) failed: exit code 1. */
export class StoreError extends OperationError {
  override name = 'StoreError';
  constructor(message: string, readonly kind: StoreFailure = 'other', options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A stored backup failed an integrity check (size, sha256, trailer, format). */
export class IntegrityError extends OperationError {
  override name = 'IntegrityError';
  constructor(readonly check: string, message: string, options?: { cause?: unknown }) {
    super(`${check}: ${message}`, options);
  }
}

/** The work was interrupted (SIGTERM/SIGINT) before it completed. */
export class AbortedError extends OperationError {
  override name = 'AbortedError';
}

/**
 * `err` as an AbortedError of `what` when it is the abort of a stream or request by a signal (SIGTERM/SIGINT): Node's
 * bare 'The operation was aborted' names neither; the signal's reason (`received SIGTERM`) is said instead. Any other
 * error: undefined.
 */
export function abortedBySignal(err: unknown, what: string): AbortedError | undefined {
  if (!(err instanceof Error) || err.name !== 'AbortError' || err instanceof OperationError) return undefined;
  const reason = err.cause === undefined ? 'interrupted (SIGTERM/SIGINT)' : describeError(err.cause);
  return new AbortedError(`${what} stopped: ${reason}`, { cause: err });
}

/** A short, single-line description of any thrown value, for messages. */
export function describeError(err: unknown): string {
  // Another library's text can quote what it read (yauzl names a zip's entry): printed, it must not drive a terminal.
  if (err instanceof Error) return terminalSafe(err.message.split('\n')[0] ?? err.name, false);
  return terminalSafe(String(err), false);
}
