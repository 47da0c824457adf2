import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { noop } from 'cockatiel';
import { Etcd3, type IOptions } from 'etcd3';
import type { EtcdConfig, EtcdFileField } from '../config/types.js';
import { ConfigError } from '../core/errors.js';
import { budgetedWait } from '../core/wait-budget.js';
import { authenticateOnOwnChannel } from './auth-channel.js';
import { poolOf } from './etcd3-pool.js';
import { explainClosedConnection } from './errors.js';
import { faultHandling, poolHostOf } from './fault-handling.js';
import type { Logger } from '../log.js';
import { checkTlsFiles, credentialVariables, variableOf } from './tls-check.js';

/**
 * The largest reply accepted from etcd. Reads are sized so that no reply can exceed it whatever the values hold (see
 * reply-budget.ts); a reply that still would (values over etcd's default request limit) fails with
 * RESOURCE_EXHAUSTED and is asked for again in smaller parts.
 */
export const MAX_REPLY_BYTES = 64 * 1024 * 1024;

/** gRPC channel options measured to matter here (see docs: performance notes). */
const GRPC_OPTIONS = {
  // The default 64 KiB window makes the snapshot stream wait on round trips; 8 MiB keeps it flowing.
  'grpc-node.flow_control_window': 8 * 1024 * 1024,
  'grpc.max_receive_message_length': MAX_REPLY_BYTES,
  'grpc.max_send_message_length': 16 * 1024 * 1024,
  'grpc.keepalive_time_ms': 30_000,
  'grpc.keepalive_timeout_ms': 10_000,
};

/** Host names as the etcd3 client wants them: without the scheme when TLS is configured by credentials. */
function hostsOf(cfg: EtcdConfig): string[] {
  return cfg.endpoints.map(poolHostOf);
}

/** True when the endpoints use https (TLS with the CA of RS_ETCD_CA_CERT, or the system's CAs). */
export function usesTls(cfg: EtcdConfig): boolean {
  return cfg.endpoints.some((e) => e.startsWith('https://'));
}

/** Reads the PEM files named by the config; a file that cannot be read is a configuration error. */
export function readTlsFiles(cfg: EtcdConfig): { ca?: Buffer; cert?: Buffer; key?: Buffer } {
  const read = (field: EtcdFileField) => {
    const path = cfg[field];
    if (path === undefined) return undefined;
    try {
      return readFileSync(path);
    } catch (err) {
      throw new ConfigError([`${variableOf(cfg, field)} was invalid: "${path}" cannot be read (${(err as Error).message})`]);
    }
  };
  const out: { ca?: Buffer; cert?: Buffer; key?: Buffer } = {};
  const ca = read('caCertFile');
  const cert = read('clientCertFile');
  const key = read('clientKeyFile');
  if (ca) out.ca = ca;
  if (cert) out.cert = cert;
  if (key) out.key = key;
  return out;
}

/**
 * The channel of the pool's host `index` (its KV service's, which every member serves): the connection a first call
 * to that member waits for. Undefined before the client is made.
 */
function channelOf(client: Etcd3 | undefined, index: number): { getConnectivityState(tryToConnect: boolean): number } | undefined {
  const host = client && poolOf(client).hosts[index];
  return (host?.getServiceClient('KV') as { getChannel(): { getConnectivityState(tryToConnect: boolean): number } } | undefined)?.getChannel();
}

/**
 * Builds the etcd3 (v3 gRPC) client for the configured endpoints, TLS and auth. `oneAttempt`: each call is made once,
 * within RS_ETCD_TIMEOUT (`cfg.timeoutMs`), not retried: for a question an endpoint that is down may leave unanswered.
 * `log`: where credentials set for an etcd without authentication are said to go unused.
 */
export function createEtcdClient(cfg: EtcdConfig, opts: { oneAttempt?: boolean; log?: Logger } = {}): Etcd3 {
  const tls = usesTls(cfg);
  if (!tls && (cfg.caCertFile || cfg.clientCertFile)) {
    const files = (['caCertFile', 'clientCertFile'] as const).filter((f) => cfg[f] !== undefined).map((f) => variableOf(cfg, f));
    throw new ConfigError([`${files.join(' and ')} ${files.length > 1 ? 'are' : 'is'} set but ${variableOf(cfg, 'endpoints')} are http:// URLs: use https://`]);
  }
  if (tls && cfg.endpoints.some((e) => e.startsWith('http://'))) {
    throw new ConfigError([`${variableOf(cfg, 'endpoints')} mixes http:// and https:// endpoints`]);
  }
  let client: Etcd3 | undefined;
  const options: IOptions = {
    hosts: tls ? hostsOf(cfg) : cfg.endpoints,
    grpcOptions: GRPC_OPTIONS,
    dialTimeout: Math.min(cfg.timeoutMs, 10_000),
    // RS_ETCD_TIMEOUT bounds each unary call, retries included; streams have no deadline. An http:// endpoint that
    // closes the connection is asked whether it speaks TLS: then the first failure says so.
    ...(opts.oneAttempt
      ? { faultHandling: { global: noop, host: () => noop }, defaultCallOptions: () => ({ deadline: Date.now() + budgetedWait(cfg.timeoutMs).ms }) }
      : faultHandling(cfg.timeoutMs, tls ? undefined : (err) => explainClosedConnection(err, cfg.endpoints), cfg.endpoints.length, (i) => channelOf(client, i))),
  };
  if (tls) {
    const files = readTlsFiles(cfg);
    checkTlsFiles(cfg, files);
    // etcd3 wants a root certificate to enable TLS; without RS_ETCD_CA_CERT use Node's bundled CAs.
    options.credentials = {
      rootCertificate: files.ca ?? Buffer.from(rootCertificates.join('\n')),
      ...(files.key && { privateKey: files.key }),
      ...(files.cert && { certChain: files.cert }),
    };
  }
  if (cfg.username !== undefined && cfg.password !== undefined) {
    options.auth = { username: cfg.username, password: cfg.password };
  }
  client = new Etcd3(options);
  if (options.auth) {
    const log = opts.log;
    authenticateOnOwnChannel(client, GRPC_OPTIONS, () =>
      log?.warn({ endpoints: cfg.endpoints }, `etcd has authentication disabled: going on without the user of ${credentialVariables(cfg)} (as etcdctl does)`),
    );
  }
  return client;
}
