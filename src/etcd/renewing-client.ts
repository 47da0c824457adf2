import type { Etcd3 } from 'etcd3';
import type { EtcdConfig } from '../config/types.js';
import { describeError } from '../core/errors.js';
import type { Logger } from '../log.js';
import { createEtcdClient, readTlsFiles, usesTls } from './client.js';

/** Where a long-lived reader of etcd (the watch of continuous backups) gets its client, on every reconnection. */
export interface EtcdClientSource {
  readonly current: Etcd3;
  /** Before a new connection: the client of the TLS files as they are now (see RenewingEtcdClient). */
  renew(): void;
}

/**
 * The etcd client of a process that outlives its TLS files: kubeadm's `certs renew`, cert-manager and a Secret's
 * `..data` swap rewrite RS_ETCD_CA_CERT and the client certificate and key in place, and the old certificate then
 * expires. A client keeps the bytes it was made with, so a connection made after that (etcd restarted) would offer
 * the expired certificate, or trust the old CA, until the process restarts. `renew()` reads the files again and, when
 * they changed and make a client (a certificate with the key that belongs to it), replaces the client and closes the
 * old one; files caught half-rewritten keep the one in use until the next renew().
 */
export class RenewingEtcdClient implements EtcdClientSource {
  private client: Etcd3;
  private files: Buffer;

  constructor(
    private readonly cfg: EtcdConfig,
    private readonly log?: Logger,
  ) {
    this.files = this.read() ?? Buffer.alloc(0);
    this.client = createEtcdClient(cfg, log !== undefined ? { log } : {});
  }

  get current(): Etcd3 {
    return this.client;
  }

  renew(): void {
    if (!usesTls(this.cfg)) return;
    const files = this.read();
    if (files === undefined || files.equals(this.files)) return;
    let next: Etcd3;
    try {
      next = createEtcdClient(this.cfg, this.log !== undefined ? { log: this.log } : {});
    } catch (err) {
      this.log?.warn({ err: describeError(err) }, 'etcd TLS files changed but cannot be used yet: keeping the ones read before');
      return;
    }
    this.client.close();
    this.client = next;
    this.files = files;
    this.log?.info({ files: this.paths() }, 'etcd TLS files changed: new connections to etcd use them');
  }

  close(): void {
    this.client.close();
  }

  /** The CA, certificate and key as one buffer (undefined when one cannot be read now: a swap in progress). */
  private read(): Buffer | undefined {
    try {
      const { ca, cert, key } = readTlsFiles(this.cfg);
      return Buffer.concat([ca, cert, key].map((b) => b ?? Buffer.alloc(0)).flatMap((b) => [Buffer.from(`${b.length}:`), b]));
    } catch {
      return undefined;
    }
  }

  private paths(): string[] {
    return [this.cfg.caCertFile, this.cfg.clientCertFile, this.cfg.clientKeyFile].filter((p): p is string => p !== undefined);
  }
}
