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

/** A refusal of a request signed at a time more than 15 minutes off the server's clock. */
export const isClockSkew = (err: unknown): boolean => (err as SdkError | undefined)?.name === 'RequestTimeTooSkewed';

/**
 * Whether retrying the same request may succeed: throttling, 5xx, a network failure, our deadline; a clock too far
 * off once (the SDK corrects its offset from the refusal: see S3Sender).
 */
export function isTransient(err: unknown): boolean {
  if (err instanceof DeadlineExceeded) return true;
  const status = statusOf(err);
  return TRANSIENT.has((err as SdkError | undefined)?.name ?? '') || (status !== undefined && (status >= 500 || status === 429)) || isNetworkError(err);
}

/** Node's codes for a server certificate it does not trust. */
const UNTRUSTED = /^(DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?|CERT_HAS_EXPIRED|CERT_NOT_YET_VALID|ERR_TLS_CERT_ALTNAME_INVALID)$/;

/** Where the S3 server is and what this process trusts, as messages name them: the variables they were read from. */
export interface S3Target {
  /** RS_S3_ENDPOINT (undefined: AWS). */
  endpoint?: string | undefined;
  /** RS_S3_CA_CERT: the only CA trusted (undefined: the system's). */
  caCertFile?: string | undefined;
  /** The AWS CLI's variable a field was read from (AWS_ENDPOINT_URL, AWS_CA_BUNDLE), where reshifter's was unset. */
  readFrom?: Partial<Record<'endpoint' | 'caCertFile', string>> | undefined;
}

/** The endpoint as messages show it: its variable and its scheme, host and port (never a user:password it may hold). */
export function shownEndpoint(s: S3Target): string | undefined {
  if (s.endpoint === undefined) return undefined;
  // With its path, which every request starts with (a proxy's /s3): without it, an endpoint set to the wrong path read
  // as the right server. Never with a user:password (origin and pathname hold none).
  const u = new URL(s.endpoint);
  return `${s.readFrom?.endpoint ?? 'RS_S3_ENDPOINT'}=${u.origin}${u.pathname.replace(/\/+$/, '')}`;
}

/**
 * A TLS failure named by the setting an operator can change: an https endpoint that speaks plain HTTP, or a server
 * certificate Node does not trust (with RS_S3_CA_CERT: not signed by that CA); undefined for anything else.
 */
export function tlsProblem(err: unknown, s: S3Target): string | undefined {
  const code = (err as SdkError | undefined)?.code ?? '';
  const text = describeError(err);
  const where = shownEndpoint(s) ?? 'the S3 endpoint';
  if (code === 'EPROTO' || /wrong version number/i.test(text)) {
    const plain = s.endpoint !== undefined ? new URL(s.endpoint).origin.replace(/^https:/i, 'http:') : undefined;
    return `${where} is https, but the server there does not speak TLS (${code || 'wrong version number'}): is it ${plain ?? 'an http:// server'}?`;
  }
  if (!UNTRUSTED.test(code)) return undefined;
  if (s.caCertFile !== undefined) {
    return `the server certificate of ${where} is not trusted (${code}) by the CA in ${s.readFrom?.caCertFile ?? 'RS_S3_CA_CERT'}=${s.caCertFile}: give the CA that signed it, or fix the certificate`;
  }
  return `the server certificate of ${where} is not trusted (${code}): give its CA in RS_S3_CA_CERT (a PEM file), or fix the certificate`;
  return undefined;
}

/**
 * Why the endpoint refused the request's credentials, naming the variable to check (never its value); undefined for
 * any other error. `fromVariables`: ACCESS_KEY_ID and SECRET_ACCESS_KEY are set (else the AWS SDK's default chain gave
 * the credentials). A HEAD request's refusal has no body, so no code: only its status says it was refused.
 */
export function credentialsProblem(err: unknown, s: S3Target & { bucket: string; fromVariables: boolean }): string | undefined {
  const name = (err as SdkError | undefined)?.name ?? '';
  const status = statusOf(err);
  const shown = shownEndpoint(s);
  const server = shown !== undefined ? `the S3 server at ${shown}` : 'S3';
  const keyId = s.fromVariables ? 'ACCESS_KEY_ID' : "the access key of the AWS SDK's credentials (AWS_ACCESS_KEY_ID, AWS_PROFILE or the pod's role)";
  const secret = s.fromVariables ? 'SECRET_ACCESS_KEY' : "the secret key of the AWS SDK's credentials (AWS_SECRET_ACCESS_KEY, AWS_PROFILE)";
  const refused = `${server} refused the credentials`;
  if (name === 'InvalidAccessKeyId') return `${refused}: it knows no such access key (InvalidAccessKeyId): check ${keyId}`;
  if (name === 'SignatureDoesNotMatch') {
    return `${refused}: the request signature does not match (SignatureDoesNotMatch), so the secret key is not the one of that access key: check ${secret}`;
  }
  if (name === 'ExpiredToken' || name === 'InvalidToken' || name === 'TokenRefreshRequired') {
    return `${refused}: the session token is expired or invalid (${name}): check AWS_SESSION_TOKEN or the role that gives the credentials`;
  }
  if (name === 'AccessDenied') {
    return `access denied (AccessDenied): ${server} accepted the credentials, but they may not do this in bucket "${s.bucket}": check the bucket policy and the permissions of ${keyId}`;
  }
  if (name === 'RequestTimeTooSkewed') {
    return `${server} refused the request: this machine's clock is more than 15 minutes off the server's (RequestTimeTooSkewed), and signed requests carry the time: set the clock (NTP)`;
  }
  if (status === 403 && !isBare403(err)) {
    return `${server} refused the request (HTTP 403, ${name}: ${describeError(err)}): check that the credentials of ${keyId} may use bucket "${s.bucket}"`;
  }
  if (status === 403) {
    return `${server} refused the request (HTTP 403, no reason given): check ${s.fromVariables ? 'ACCESS_KEY_ID and SECRET_ACCESS_KEY' : "the AWS SDK's credentials"}, and that they may use bucket "${s.bucket}"`;
  }
  return undefined;
}

/** The names the SDK gives an error whose answer had no code (`Unknown`, with the message `UnknownError`). */
const BARE_NAMES = new Set(['Unknown', 'UnknownError', 'Forbidden', 'Error']);

/**
 * A 403 that carries no error code: the answer to a HEAD request has no body, and the SDK names the error by its
 * HTTP status, its status text or `Unknown`.
 */
function isBare403(err: unknown): boolean {
  const name = String((err as SdkError | undefined)?.name ?? '');
  return statusOf(err) === 403 && (name === '' || /^\d+$/.test(name) || BARE_NAMES.has(name));
}

/**
 * Whether an object read refused with `err` may be of an object that does not exist: AWS S3 answers a missing object
 * with 403 AccessDenied (a bare 403 to a HEAD) when the credentials may not list the bucket. Told by the error's code as
 * the SDK gives it (never by its text): a refusal of the credentials or another code says its own reason.
 */
export function maybeMissingObject(err: unknown): boolean {
  return statusOf(err) === 403 && ((err as SdkError | undefined)?.name === 'AccessDenied' || isBare403(err));
}
