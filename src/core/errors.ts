/**
 * Our own error types. Foreign errors (gRPC, S3, fs) are converted into these once, at the adapter that
 * called the library, so the rest of the code and `main.ts` only ever see these.
 */

/** Bad configuration or usage, found before any work is done: exit code 2. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly exitCode = 2;
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
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

/** etcd could not be reached, refused us, or broke off: exit code 1. */
export class EtcdError extends OperationError {
  override name = 'EtcdError';
}

/**
 * How a store request failed, decided once by the store adapter (local-store.ts from the fs error's code, s3-store.ts
 * from the SDK error's name and HTTP status) so that nothing else reads messages: `not-found` (no such object),
 * `denied` (credentials or permissions), `transient` (network, 5xx, throttling: still failing when the retries gave
 * up), `other` (anything else: a missing bucket, a full disk, an aborted request).
 */
export type StoreFailure = 'not-found' | 'denied' | 'transient' | 'other';

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

/** A short, single-line description of any thrown value, for messages. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message.split('\n')[0] ?? err.name;
  return String(err);
}
