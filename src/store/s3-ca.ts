import { readFileSync, statSync } from 'node:fs';
import { Agent, type AgentOptions } from 'node:https';
import { X509Certificate } from 'node:crypto';
import { ConfigError, describeError } from '../core/errors.js';
import type { Logger } from '../log.js';

/** Where the S3 server's CA comes from: RS_S3_CA_CERT's file, or the AWS CLI's AWS_CA_BUNDLE in its place. */
export interface CaSource {
  caCertFile?: string;
  readFrom?: { caCertFile?: string };
}

/** RS_S3_CA_CERT's certificates; a file that cannot be read or holds no PEM certificate is refused naming it. */
export function readCaFile(cfg: CaSource): Buffer {
  const variable = cfg.readFrom?.caCertFile ?? 'RS_S3_CA_CERT';
  let pem: Buffer;
  try {
    pem = readFileSync(cfg.caCertFile!);
  } catch (err) {
    throw new ConfigError([`${variable} was invalid: ${JSON.stringify(cfg.caCertFile)} cannot be read (${describeError(err)})`]);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new ConfigError([`${variable} was invalid: ${JSON.stringify(cfg.caCertFile)} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`]);
  return pem;
}

/** Whether every PEM block of `pem` is a whole certificate, and there is one: not a file caught half-written. */
function wholeCertificates(pem: Buffer): boolean {
  const text = pem.toString('latin1');
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0 || blocks.length !== text.split('-----BEGIN CERTIFICATE-----').length - 1) return false;
  try {
    for (const b of blocks) new X509Certificate(b);
    return true;
  } catch {
    return false;
  }
}

/**
 * The https agent of an S3 client that trusts RS_S3_CA_CERT's CA, for a process that outlives the CA: cert-manager
 * or a mounted Secret rewrites the file in place when the S3 server's certificate moves to a new CA. The file is read
 * again before a request when it changed (its size, times or inode) and after the server's certificate was refused
 * (`reread()`); new connections then trust what it holds. Open connections stay (their server was verified). A file
 * caught half-written (a certificate cut short) keeps the CA read before, until it changes again.
 */
export class RereadingCaAgent extends Agent {
  private stamp: string;
  private force = false;
  private refused = '';

  constructor(
    options: AgentOptions,
    private readonly source: CaSource,
    private readonly log?: Logger,
  ) {
    super({ ...options, ca: readCaFile(source) });
    this.stamp = this.stat();
  }

  /** The server's certificate was not trusted: the next request reads the file whether or not it looks changed. */
  reread(): void {
    this.force = true;
  }

  /**
   * Node's Agent takes each request here, then names its connection pool by the options it holds (the CA among them):
   * the file is looked at first, so that a request after a change goes to a pool, and a new connection, of the new CA.
   */
  addRequest(...args: unknown[]): void {
    this.refresh();
    (Agent.prototype as unknown as { addRequest(...a: unknown[]): void }).addRequest.apply(this, args);
  }

  private refresh(): void {
    const stamp = this.stat();
    if (stamp === this.stamp && !this.force) return;
    this.force = false;
    this.stamp = stamp;
    let pem: Buffer;
    try {
      pem = readFileSync(this.source.caCertFile!);
    } catch {
      return; // A swap in progress (the file gone for a moment): the CA read before, until it changes again.
    }
    if (Buffer.isBuffer(this.options.ca) && pem.equals(this.options.ca)) return;
    const file = `${this.source.readFrom?.caCertFile ?? 'RS_S3_CA_CERT'}=${this.source.caCertFile}`;
    if (!wholeCertificates(pem)) {
      const seen = pem.toString('base64');
      if (seen !== this.refused) this.log?.warn({ file }, 'the S3 CA file changed but holds no whole certificate yet: keeping the CA read before');
      this.refused = seen;
      return;
    }
    this.options.ca = pem;
    this.refused = '';
    this.log?.info({ file }, 'the S3 CA file changed: new connections to the S3 server trust the CA it holds now');
  }

  private stat(): string {
    try {
      const s = statSync(this.source.caCertFile!, { bigint: true });
      return `${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
    } catch {
      return '';
    }
  }
}
