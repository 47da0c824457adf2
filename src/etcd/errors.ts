import type { EtcdConfig } from '../config/types.js';
import { EtcdError, describeError } from '../core/errors.js';

/** Where an etcd call went: the endpoints, or the whole config (which lets messages say what is not configured). */
export type EtcdTarget = readonly string[] | Pick<EtcdConfig, 'endpoints' | 'caCertFile' | 'clientCertFile' | 'username'>;

/**
 * Turns whatever etcd3/grpc-js threw into an EtcdError whose message says what went wrong in an operator's
 * words: unreachable, TLS (wrong CA, expired server certificate, client certificate refused or missing, plain
 * http), refused or missing credentials, permission, or size limits. Never includes a credential: grpc errors
 * carry etcd's message, not the request.
 */
export function toEtcdError(err: unknown, what: string, target: EtcdTarget): EtcdError {
  if (err instanceof EtcdError) return err;
  const cfg = isConfig(target) ? target : undefined;
  const endpoints = isConfig(target) ? target.endpoints : target;
  const raw = describeError(err);
  const text = `${raw} ${(err as { details?: string })?.details ?? ''}`.toLowerCase();
  let why: string;
  if (/authentication failed|invalid user id or password|etcdauthenticationfailed/.test(text)) {
    why = 'etcd refused the credentials (check RS_ETCD_USERNAME and RS_ETCD_PASSWORD)';
  } else if (/user name is empty/.test(text)) {
    why = cfg && cfg.username === undefined
      ? 'etcd has authentication enabled: set RS_ETCD_USERNAME and RS_ETCD_PASSWORD'
      : 'etcd requires authentication and got no user name (set RS_ETCD_USERNAME and RS_ETCD_PASSWORD)';
  } else if (/permission denied|etcdpermissiondenied/.test(text)) {
    why = 'the etcd user lacks permission for this (snapshots need the root role; key dumps read access to their prefixes)';
  } else if (/certificate has expired/.test(text)) {
    why = "etcd's server certificate has expired";
  } else if (/certificate is not yet valid/.test(text)) {
    why = "etcd's server certificate is not valid yet (check the clocks)";
  } else if (/self.signed|unable to verify|unable to get local issuer|certificate verify failed|cert_untrusted|unable to get issuer/.test(text)) {
    why = cfg && cfg.caCertFile === undefined
      ? "etcd's server certificate is not signed by a CA this system trusts: set RS_ETCD_CA_CERT to etcd's CA"
      : "etcd's server certificate is not signed by RS_ETCD_CA_CERT";
  } else if (/hostname|altnames|is not in the cert/.test(text)) {
    why = "etcd's server certificate does not name this endpoint's host (its subjectAltName)";
  } else if (/alert (bad certificate|certificate required|certificate unknown|unknown ca|unsupported certificate|certificate expired|certificate revoked|handshake failure)|peer did not return a certificate/.test(text)) {
    why = cfg && cfg.clientCertFile === undefined
      ? 'etcd requires a client certificate (mutual TLS): set RS_ETCD_CLIENT_CERT and RS_ETCD_CLIENT_KEY'
      : 'etcd rejected the client certificate (RS_ETCD_CLIENT_CERT): it is missing, or not signed by a CA etcd trusts (--trusted-ca-file)';
  } else if (/disconnected before secure tls connection|wrong.version.number|packet length too long|http request/.test(text)) {
    why = 'the endpoint did not complete a TLS handshake: it may serve plain http (then use an http:// endpoint)';
  } else if (/no connection established.*econnreset/.test(text) && endpoints.some((e) => e.startsWith('https:'))) {
    // A plain-http etcd answers a TLS hello by closing; depending on timing grpc-js sees that as a reset.
    why = `the endpoint did not complete a TLS handshake: it may serve plain http (then use an http:// endpoint), or reset the connection (${raw})`;
  } else if (/received message larger than max|resource_exhausted|request is too large|too many operations/.test(text)) {
    why = `a message exceeded etcd or gRPC size limits (${raw})`;
  } else if (/econnrefused|unavailable|no connection established|connect|deadline|timed out|econnreset|socket|closed|goaway|cancelled/.test(text)) {
    why = `etcd is unreachable or went away (${raw})`;
  } else {
    why = raw;
  }
  return new EtcdError(`${what} failed at ${endpoints.join(',')}: ${why}`, { cause: err });
}

function isConfig(t: EtcdTarget): t is Exclude<EtcdTarget, readonly string[]> {
  return !Array.isArray(t);
}
