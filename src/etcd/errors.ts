import { EtcdError, describeError } from '../core/errors.js';

/**
 * Turns whatever etcd3/grpc-js threw into an EtcdError whose message says what went wrong in an operator's
 * words: unreachable, TLS (wrong CA, bad or expired certificate), refused credentials, permission, or size limits.
 */
export function toEtcdError(err: unknown, what: string, endpoints: readonly string[]): EtcdError {
  if (err instanceof EtcdError) return err;
  const raw = describeError(err);
  const text = `${raw} ${(err as { details?: string })?.details ?? ''}`.toLowerCase();
  const where = endpoints.join(',');
  let why: string;
  if (/authentication failed|invalid user id or password|user name is empty|etcdauthenticationfailed/.test(text)) {
    why = 'etcd refused the credentials (check RS_ETCD_USERNAME and RS_ETCD_PASSWORD)';
  } else if (/permission denied|etcdpermissiondenied/.test(text)) {
    why = 'the etcd user lacks permission for this operation';
  } else if (/certificate has expired|cert.*expired/.test(text)) {
    why = 'a TLS certificate has expired (check RS_ETCD_CLIENT_CERT and the server certificate)';
  } else if (/self.signed|unable to verify|unable to get local issuer|certificate verify failed|cert_untrusted|unknown ca|wrong_version_number|alert.*ca/.test(text)) {
    why = 'TLS failed: the server certificate is not signed by RS_ETCD_CA_CERT, or the server does not speak TLS';
  } else if (/bad certificate|certificate required|handshake failure|alert.*certificate|peer did not return a certificate/.test(text)) {
    why = 'etcd rejected the client certificate (check RS_ETCD_CLIENT_CERT and RS_ETCD_CLIENT_KEY)';
  } else if (/hostname|altnames|ip: .* is not in the cert/.test(text)) {
    why = "the server certificate does not name this endpoint's host";
  } else if (/received message larger than max|resource_exhausted|request is too large|too many operations/.test(text)) {
    why = `a message exceeded etcd or gRPC size limits (${raw})`;
  } else if (/econnrefused|unavailable|no connection established|connect|deadline|timed out|econnreset|socket|closed|goaway/.test(text)) {
    why = `etcd is unreachable or went away (${raw})`;
  } else {
    why = raw;
  }
  return new EtcdError(`${what} failed at ${where}: ${why}`, { cause: err });
}
