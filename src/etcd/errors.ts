import { resolve } from 'node:path';
import { GRPCUnavailableError } from 'etcd3';
import type { EtcdConfig } from '../config/types.js';
import { AbortedError, EtcdError, describeError } from '../core/errors.js';
import { attemptsBehind, budgetBehind, poolHostOf, tlsFailedHost } from './fault-handling.js';
import { credentialVariables, tlsFile } from './tls-check.js';
import { probePlainHttp, probeSpeaksTls, probeTls, type TlsFiles } from './tls-probe.js';

/** Where an etcd call went: the endpoints, or the whole config (which lets messages say what is not configured). */
export type EtcdTarget = readonly string[] | ConfigTarget;
type ConfigTarget = Pick<EtcdConfig, 'endpoints' | 'caCertFile' | 'clientCertFile' | 'username'> & Partial<Pick<EtcdConfig, 'timeoutMs' | 'readFrom'>>;

/**
 * etcd did not answer: it was unreachable, went away during the call, or did not answer within RS_ETCD_TIMEOUT. A
 * write that fails so may have been applied all the same (etcd applied it and died before answering).
 */
export class EtcdUnansweredError extends EtcdError {
  override name = 'EtcdUnansweredError';
}

/**
 * etcd refused the credentials, wanted some, or denied the user what was asked: what RS_ETCD_USERNAME and
 * RS_ETCD_PASSWORD (or the user's roles) fix. `reason` is the message's cause, without what failed where.
 */
export class EtcdCredentialsError extends EtcdError {
  override name = 'EtcdCredentialsError';
  constructor(
    message: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The etcd errors that are about the credentials (see reasonOf for their words). */
const CREDENTIALS = /authentication failed|invalid user id or password|etcdauthenticationfailed|user name is empty|user not found|permission denied|etcdpermissiondenied/;

/**
 * Turns whatever etcd3/grpc-js threw into an EtcdError whose message says what went wrong in an operator's
 * words: unreachable, TLS (wrong CA, expired server certificate, client certificate refused or missing, plain
 * http), refused or missing credentials, permission, or size limits. Never includes a credential: grpc errors
 * carry etcd's message, not the request. A reset during an https handshake says too little to tell which: it comes
 * back as a TlsResetError, for `explainTlsReset` to ask the endpoint.
 */
export function toEtcdError(err: unknown, what: string, target: EtcdTarget): EtcdError | AbortedError {
  // A request given up because the operation was stopped (interrupt.ts) is no failure of etcd's.
  if (err instanceof EtcdError || err instanceof AbortedError) return err;
  const cfg = isConfig(target) ? target : undefined;
  const endpoints = failedEndpoints(err, isConfig(target) ? target.endpoints : target);
  if (err instanceof SpeaksTlsError || err instanceof NotEtcdError) {
    const which = endpoints.length > 1 ? err.endpoint : 'the endpoint';
    return new EtcdError(`${what} failed at ${endpoints.join(',')}: ${which} ${err.advice}`, { cause: err });
  }
  const raw = grpcCause(describeError(err));
  const text = `${describeError(err)} ${(err as { details?: string })?.details ?? ''}`.toLowerCase();
  if (/no connection established.*econnreset|disconnected before secure tls connection/.test(text) && endpoints.some((e) => e.startsWith('https:'))) {
    return new TlsResetError(what, endpoints, raw, { cause: err });
  }
  // The cause comes last, where an operator's eye ends: how long it was retried goes before it.
  const reason = budgetReason(err, text, raw) ?? reasonOf(text, raw, cfg, what);
  const message = `${what} failed at ${endpoints.join(',')}${retried(err)}: ${reason}`;
  if (CREDENTIALS.test(text)) return new EtcdCredentialsError(message, reason, { cause: err });
  return UNANSWERED.test(text) ? new EtcdUnansweredError(message, { cause: err }) : new EtcdError(message, { cause: err });
}

/**
 * The cause in a grpc-js message, without grpc-js's wording around it: the status code (`14 UNAVAILABLE: `), "No
 * connection established. Last error: Error: ", and an empty ". Resolution note: " (a note that says something, a
 * DNS failure's, is kept). `14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED
 * 127.0.0.1:1. Resolution note: ` is `connect ECONNREFUSED 127.0.0.1:1`.
 */
export function grpcCause(message: string): string {
  const cause = message
    .replace(/^\d+ [A-Z_]+: /, '')
    .replace(/^(?:\w+: )?No connection established\. Last error: /, '')
    .replace(/\. Resolution note: (.*)$/, (_, note: string) => (note.trim() === '' ? '' : `; ${note.trim()}`))
    .replace(/^(?:Error: )+/, '')
    .trim();
  // grpc-js shares one connection per address among a process' channels: a new channel that joins one waiting to
  // connect again after a failure (the API's second read of an etcd that is down) fails with "Last error: null".
  return cause === 'null' ? NO_CONNECTION : cause;
}

/** What grpc-js's "Last error: null" means: a connection to the address failed before, and none is made now. */
export const NO_CONNECTION = 'no connection could be made (the last attempt to connect failed; it is tried again after a pause)';

/**
 * Why a call that the caller's wait budget ended (an API read: core/wait-budget.ts) failed: etcd did not answer in
 * that time, or was unreachable all along, and the budget, not RS_ETCD_TIMEOUT, is what gave up.
 */
function budgetReason(err: unknown, text: string, raw: string): string | undefined {
  const budget = budgetBehind(err);
  if (budget === undefined) return undefined;
  const cause = /deadline/.test(text) ? `etcd did not answer within ${seconds(budget.ms)} (is etcd stopped, frozen or overloaded?)` : `etcd is unreachable or went away: ${raw}`;
  return `${cause}; ${budget.what}`;
}

/** Errors that mean no answer came (see reasonOf): unreachable, dropped, or past the deadline. */
const UNANSWERED = /econnrefused|unavailable|no connection established|connect|deadline|timed out|econnreset|socket|closed|goaway|cancelled|skipped/;

/** How long a call that was retried kept trying, for the message. */
function retried(err: unknown): string {
  const gaveUp = attemptsBehind(err);
  return gaveUp ? ` (gave up after ${gaveUp.attempts} attempts in ${(gaveUp.elapsedMs / 1000).toFixed(1)} s)` : '';
}

/** The calls of a key restore (writes, and the reads of the target before them), whose permission is not a backup's. */
const RESTORING = /restored|to restore|of the target|recorded changes deleted/;

/** What the call `what` needs of the etcd user. */
function permissionNeeded(what: string): string {
  if (RESTORING.test(what)) return 'a key restore needs read and write access to the keys it restores';
  // etcd checks a watch against its whole range: a key dump's chain watches each of its prefixes on its own.
  if (/^watching/.test(what)) {
    return "the watch of continuous backups needs read access to every key it records: all keys for a snapshot's chain, each prefix of the key dump for a key dump's";
  }
  return 'snapshots need the root role; key dumps read access to their prefixes';
}

/** With a client certificate and no user name, etcd with auth enabled takes the certificate's CN as the user. */
const certificateUser = (cfg: ConfigTarget | undefined): cfg is ConfigTarget => cfg !== undefined && cfg.username === undefined && cfg.clientCertFile !== undefined;

/** Why an etcd call failed, in an operator's words, from the error's text (lower case) and its message. */
function reasonOf(text: string, raw: string, cfg: ConfigTarget | undefined, what: string): string {
  if (/authentication failed|invalid user id or password|etcdauthenticationfailed/.test(text)) {
    return `etcd refused the credentials (check ${credentialVariables(cfg)})`;
  }
  if (/user name is empty/.test(text)) {
    return cfg && cfg.username === undefined
      ? 'etcd has authentication enabled: set RS_ETCD_USERNAME and RS_ETCD_PASSWORD'
      : `etcd requires authentication and got no user name (set ${credentialVariables(cfg)})`;
  }
  if (/auth: user not found/.test(text) && certificateUser(cfg)) {
    return `etcd knows no user named as the common name (CN) of ${tlsFile(cfg, 'clientCertFile')}, which it takes as the user when RS_ETCD_USERNAME is not set: set RS_ETCD_USERNAME and RS_ETCD_PASSWORD, or add that user to etcd with the roles it needs`;
  }
  if (/permission denied|etcdpermissiondenied/.test(text)) return `the etcd user lacks permission for this (${permissionNeeded(what)})${certificateUser(cfg) ? `; with no RS_ETCD_USERNAME set, etcd takes the common name (CN) of ${tlsFile(cfg, 'clientCertFile')} as the user` : ''}`;
  const tls = tlsReason(text, cfg);
  if (tls !== undefined) return tls;
  if (/too many requests/.test(text)) return `etcd is overloaded and refused the request (${raw})`;
  if (/database space exceeded|nospace/.test(text)) {
    // etcd raises a NOSPACE alarm and refuses every write until it is cleared, whatever room is made.
    return `etcd's database is full (its --quota-backend-bytes: raise it, or compact and defragment it; then clear etcd's NOSPACE alarm with "etcdctl alarm disarm", or every write stays refused) (${raw})`;
  }
  if (/received message larger than max|resource_exhausted|request is too large|too many operations/.test(text)) {
    return `a message exceeded etcd or gRPC size limits (${raw})`;
  }
  if (/deadline/.test(text)) {
    const within = cfg?.timeoutMs !== undefined ? `within ${seconds(cfg.timeoutMs)}` : 'in time';
    return `etcd did not answer ${within} (RS_ETCD_TIMEOUT, which bounds each call, retries included: is etcd stopped or overloaded?)`;
  }
  if (UNANSWERED.test(text)) return `etcd is unreachable or went away: ${raw}`;
  return raw;
}

/**
 * Why a TLS connection failed, in an operator's words, from the error's text (lower case); undefined when the text
 * is not a TLS failure. Names the file of the variable at fault (`RS_ETCD_CA_CERT=/etc/kubernetes/pki/etcd/ca.crt`).
 * The v2 HTTP client's TLS errors come here too.
 */
export function tlsReason(text: string, cfg: Pick<ConfigTarget, 'caCertFile' | 'clientCertFile' | 'readFrom'> | undefined): string | undefined {
  if (/certificate has expired/.test(text)) return "etcd's server certificate has expired";
  if (/certificate is not yet valid/.test(text)) return "etcd's server certificate is not valid yet (check the clocks)";
  if (/self.signed|unable to verify|unable to get local issuer|certificate verify failed|cert_untrusted|unable to get issuer/.test(text)) {
    return cfg && cfg.caCertFile === undefined
      ? "etcd's server certificate is not signed by a CA this system trusts: set RS_ETCD_CA_CERT to etcd's CA"
      : `etcd's server certificate is not signed by ${tlsFile(cfg, 'caCertFile')}${kubernetesPkiHint(cfg?.caCertFile)}`;
  }
  if (/hostname|altnames|is not in the cert/.test(text)) return "etcd's server certificate does not name this endpoint's host (its subjectAltName)";
  if (/alert (bad certificate|certificate required|certificate unknown|unknown ca|unsupported certificate|certificate expired|certificate revoked|handshake failure)|peer did not return a certificate/.test(text)) {
    return cfg && cfg.clientCertFile === undefined
      ? 'etcd requires a client certificate (mutual TLS): set RS_ETCD_CLIENT_CERT and RS_ETCD_CLIENT_KEY'
      : `etcd rejected the client certificate ${tlsFile(cfg, 'clientCertFile')}: it is missing, or not signed by a CA etcd trusts (--trusted-ca-file)${kubernetesPkiHint(cfg?.clientCertFile)}`;
  }
  if (/disconnected before secure tls connection|wrong.version.number|packet length too long|http request/.test(text)) return PLAIN_HTTP;
  return undefined;
}

/**
 * k3s and kubeadm keep the Kubernetes API's certificates one folder above etcd's, under the same names
 * (/var/lib/rancher/k3s/server/tls/server-ca.crt beside tls/etcd/server-ca.crt; /etc/kubernetes/pki/ca.crt beside
 * pki/etcd/ca.crt): a file of the folder above is the likely mistake, and the folder to take them from is named.
 */
function kubernetesPkiHint(given: string | undefined): string {
  // A path relative to where the command runs (`cd /var/lib/rancher/k3s/server` and `tls/server-ca.crt`) is matched
  // as the absolute path it names, and the folder named so.
  const file = given === undefined ? undefined : resolve(given);
  const k3s = file === undefined ? null : /^(.*\/rancher\/k3s\/server\/tls)\/[^/]+$/.exec(file);
  if (k3s) return ` (a certificate of k3s's Kubernetes API: k3s's etcd has its own, in ${k3s[1]}/etcd/: server-ca.crt, client.crt, client.key)`;
  const kubeadm = file === undefined ? null : /^(.*\/kubernetes\/pki)\/ca\.crt$/.exec(file);
  if (kubeadm) return ` (the Kubernetes API's CA: kubeadm's etcd has its own, ${kubeadm[1]}/etcd/ca.crt)`;
  return '';
}

const seconds = (ms: number) => `${Number((ms / 1000).toFixed(1))} s`;

const PLAIN_HTTP = 'the endpoint did not complete a TLS handshake: it may serve plain http (then use an http:// endpoint)';
const SERVES_PLAIN_HTTP = 'the endpoint did not complete a TLS handshake: it serves plain http (use an http:// endpoint)';

/**
 * A connection to an https endpoint reset or closed during the handshake. grpc-js says no more, and it may mean a
 * plain-http etcd or a refused client certificate as well as an endpoint that went away: `explainTlsReset` asks the
 * endpoint.
 */
export class TlsResetError extends EtcdError {
  constructor(
    readonly what: string,
    readonly endpoints: readonly string[],
    raw: string,
    options?: { cause?: unknown },
  ) {
    super(`${what} failed at ${endpoints.join(',')}: the connection was dropped during the TLS handshake (${raw})`, options);
  }
}

/**
 * The reset explained by a probe of each endpoint (see tls-probe.ts): a plain-http endpoint, or the handshake
 * error our own handshake met, in the same words as any other failure. The reset itself when no probe says more.
 */
export async function explainTlsReset(err: TlsResetError, cfg: ConfigTarget, files: TlsFiles, probe = probeTls): Promise<EtcdError> {
  for (const endpoint of err.endpoints) {
    const found = await probe(endpoint, files);
    if (found === undefined) continue;
    const why = found.kind === 'plain-http' ? SERVES_PLAIN_HTTP : reasonOf(found.text.toLowerCase(), found.text, cfg, err.what);
    return new EtcdError(`${err.what} failed at ${err.endpoints.join(',')}: ${why}`, { cause: err.cause });
  }
  return err;
}

/** An http:// endpoint that speaks TLS, found by a probe (see explainClosedConnection); toEtcdError says where. */
export class SpeaksTlsError extends Error {
  override name = 'SpeaksTlsError';
  /** What it is and what to set: `speaks TLS, not plain http: use https://... and set RS_ETCD_CA_CERT ...`. */
  readonly advice: string;

  constructor(
    readonly endpoint: string,
    readonly clientCertificateRequired: boolean,
  ) {
    const https = endpoint.replace(/^http:/, 'https:');
    const clientCert = clientCertificateRequired ? ', and RS_ETCD_CLIENT_CERT and RS_ETCD_CLIENT_KEY (it asks for a client certificate)' : '';
    const advice = `speaks TLS, not plain http: use ${https} and set RS_ETCD_CA_CERT to etcd's CA${clientCert}`;
    super(`${endpoint} ${advice}`);
    this.advice = advice;
  }
}

/** An http:// endpoint that answers plain HTTP/1.1 but not gRPC, found by a probe (see explainClosedConnection). */
export class NotEtcdError extends Error {
  override name = 'NotEtcdError';
  readonly advice: string;

  constructor(
    readonly endpoint: string,
    status: string,
  ) {
    const advice =
      `answers plain HTTP/1.1 (${status}), not etcd's gRPC API: is it etcd's client port (2379 by default)? ` +
      "etcd's metrics port (kubeadm's 2381) and other HTTP services answer so";
    super(`${endpoint} ${advice}`);
    this.advice = advice;
  }
}

/**
 * A connection an http:// endpoint closed before HTTP/2 began (grpc-js: "Failed to connect") explained: a TLS etcd
 * does that to plaintext without a word, and the call would be retried until RS_ETCD_TIMEOUT and then blamed on
 * reachability. Asks each http:// endpoint whether it speaks TLS; undefined when the error is another or none does.
 * An HTTP/1.1 server that is not etcd (grpc-js: "Protocol error") is asked for its status line the same way, and
 * named when every endpoint is one (a wrong port: etcd's metrics port).
 */
export async function explainClosedConnection(
  err: unknown,
  endpoints: readonly string[],
  probe = probeSpeaksTls,
  probeHttp = probePlainHttp,
): Promise<SpeaksTlsError | NotEtcdError | undefined> {
  if (!(err instanceof GRPCUnavailableError)) return undefined;
  if (/protocol error/i.test(err.message)) {
    const statuses = await Promise.all(endpoints.map((e) => (e.startsWith('http://') ? probeHttp(e) : undefined)));
    // Only when no endpoint is etcd: beside one that is, the client goes on there, as past a member that is down.
    if (statuses.some((st) => st === undefined)) return undefined;
    return new NotEtcdError(endpoints[0]!, statuses[0]!);
  }
  if (!/failed to connect \(/i.test(err.message)) return undefined;
  for (const endpoint of endpoints.filter((e) => e.startsWith('http://'))) {
    const found = await probe(endpoint);
    if (found !== undefined) return new SpeaksTlsError(endpoint, found.clientCertificateRequired);
  }
  return undefined;
}

function isConfig(t: EtcdTarget): t is ConfigTarget {
  return !Array.isArray(t);
}

/** The endpoints a failure is named at: the one whose TLS handshake failed when it is known, else all of them. */
function failedEndpoints(err: unknown, endpoints: readonly string[]): readonly string[] {
  const host = tlsFailedHost(err);
  const at = host === undefined ? [] : endpoints.filter((e) => poolHostOf(e) === host);
  return at.length === 1 ? at : endpoints;
}
