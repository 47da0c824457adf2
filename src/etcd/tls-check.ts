import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import type { EtcdConfig, EtcdFileField } from '../config/types.js';
import { ConfigError, EtcdError } from '../core/errors.js';

const VARIABLES = {
  endpoints: 'RS_ETCD_ENDPOINTS',
  caCertFile: 'RS_ETCD_CA_CERT',
  clientCertFile: 'RS_ETCD_CLIENT_CERT',
  clientKeyFile: 'RS_ETCD_CLIENT_KEY',
  username: 'RS_ETCD_USERNAME',
  password: 'RS_ETCD_PASSWORD',
} as const;

/** The variable that gave a field: reshifter's, or etcdctl's when that was read in its place (ETCDCTL_CACERT). */
export function variableOf(cfg: Pick<EtcdConfig, 'readFrom'> | undefined, field: keyof typeof VARIABLES): string {
  return cfg?.readFrom?.[field] ?? VARIABLES[field];
}

/** The variables that gave the user and password, for a message: `RS_ETCD_USERNAME and RS_ETCD_PASSWORD`, or `ETCDCTL_USER`. */
export function credentialVariables(cfg: Pick<EtcdConfig, 'readFrom'> | undefined): string {
  return [...new Set([variableOf(cfg, 'username'), variableOf(cfg, 'password')])].join(' and ');
}

/**
 * A TLS file as messages name it: the variable and the path it holds (`RS_ETCD_CA_CERT=/etc/kubernetes/pki/etcd/ca.crt`),
 * so the operator knows which file to look at; never anything read from it.
 */
export function tlsFile(cfg: Partial<Pick<EtcdConfig, EtcdFileField | 'readFrom'>> | undefined, field: EtcdFileField): string {
  const path = cfg?.[field];
  return path === undefined ? variableOf(cfg, field) : `${variableOf(cfg, field)}=${path}`;
}

/**
 * Checks the PEM files before connecting, so the message names the file: grpc-js would only report a failed
 * handshake. Files that are not certificates or keys are configuration errors (exit 2); a client certificate that
 * expired or does not match its key is an operational failure (exit 1), like a server certificate that expired.
 */
export function checkTlsFiles(cfg: EtcdConfig, files: { ca?: Buffer; cert?: Buffer; key?: Buffer }, now = new Date()): void {
  const bad = (field: EtcdFileField, what: string) => new ConfigError([`${variableOf(cfg, field)} was invalid: ${JSON.stringify(cfg[field])} ${what}`]);
  if (files.ca) {
    try {
      new X509Certificate(files.ca);
    } catch {
      throw bad('caCertFile', 'is not a PEM certificate');
    }
  }
  if (!files.cert || !files.key) return;
  let cert: X509Certificate;
  let key: KeyObject;
  try {
    cert = new X509Certificate(files.cert);
  } catch {
    // The two files given the wrong way round, as a copied command line or a Secret's keys can have them.
    const swapped = /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(files.cert.toString('latin1')) && files.key.includes('-----BEGIN CERTIFICATE-----');
    const which = swapped ? `: it holds a private key, and ${variableOf(cfg, 'clientKeyFile')} a certificate (the two swapped?)` : '';
    throw bad('clientCertFile', `is not a PEM certificate${which}`);
  }
  try {
    key = createPrivateKey(files.key);
  } catch {
    throw bad('clientKeyFile', 'is not a PEM private key (an encrypted key is not supported)');
  }
  const certFile = tlsFile(cfg, 'clientCertFile');
  if (new Date(cert.validTo) < now) {
    throw new EtcdError(`the client certificate ${certFile} expired on ${new Date(cert.validTo).toISOString()}; etcd will refuse it`);
  }
  if (new Date(cert.validFrom) > now) {
    throw new EtcdError(`the client certificate ${certFile} is not valid before ${new Date(cert.validFrom).toISOString()} (check the clocks)`);
  }
  if (!cert.checkPrivateKey(key)) {
    throw new EtcdError(`${tlsFile(cfg, 'clientKeyFile')} is not the key of ${certFile}: they do not belong together`);
  }
}
