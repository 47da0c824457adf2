import type { Etcd3 } from 'etcd3';
import type { EtcdConfig } from '../config/types.js';
import { EtcdError, describeError } from '../core/errors.js';
import { DEFAULT_PREFIXES, detectDistribution } from '../kube/index.js';
import { usesTls } from './client.js';
import { exploreV3, type ExploreResult } from './explore.js';
import { normalisePrefixes } from './key-ranges.js';
import { countV3Prefixes, findV2Prefixes } from './kube-prefixes.js';
import { V2Client } from './v2-client.js';

/** A prefix that holds Kubernetes keys, in the keyspace of one API. */
export interface FoundPrefix {
  prefix: string;
  api: 'v2' | 'v3';
  /** Keys under it (v3 only: counting a v2 tree means walking it). */
  keys?: number;
}

/** What `explore` reports: the v3 facts, plus the APIs served, the Kubernetes data found and the security in force. */
export interface EndpointReport extends ExploreResult {
  v2: boolean;
  v3: boolean;
  kubernetes: { distribution: 'vanilla' | 'openshift' | 'none'; prefixes: FoundPrefix[] };
  /** etcd authentication is enabled (known from the credentials working, or from an anonymous read refused). */
  authEnabled: boolean | undefined;
  /** The endpoint refuses TLS connections without a client certificate (undefined: not TLS, or not found out). */
  clientCertificateRequired: boolean | undefined;
}

const AUTH_REFUSAL = /user name is empty|permission denied|invalid auth token|authentication|unauthenticated/i;
const TLS_REFUSAL = /certificate|handshake|alert|socket hang up|ECONNRESET/i;

/** Probes an endpoint through both APIs; fails only when neither answers. */
export async function exploreEndpoint(etcd: Etcd3, cfg: EtcdConfig, configuredPrefixes: readonly string[]): Promise<EndpointReport> {
  const v2 = new V2Client(cfg);
  try {
    const server = await v2.version().catch(() => undefined);
    const v2Served = await v2.served().catch(() => false);
    let base: ExploreResult | undefined;
    let v3Error: unknown;
    // etcd 2.x has no v3 API: do not wait for a gRPC connection that cannot come.
    const v2Only = server !== undefined && Number(server.etcdserver.split('.')[0]) < 3;
    try {
      if (!v2Only) base = await exploreV3(etcd, cfg);
    } catch (err) {
      v3Error = err;
    }
    if (!base && !v2Served) throw v3Error ?? new EtcdError(`${cfg.endpoints.join(',')} serves neither etcd API (is it etcd?)`);
    const wanted = normalisePrefixes([...DEFAULT_PREFIXES, ...configuredPrefixes]);
    const prefixes: FoundPrefix[] = [];
    let authEnabled: boolean | undefined = cfg.username !== undefined ? true : undefined;
    if (base) {
      try {
        for (const p of await countV3Prefixes(etcd, wanted)) if (p.keys > 0) prefixes.push({ ...p, api: 'v3' });
        authEnabled ??= false;
      } catch (err) {
        if (!AUTH_REFUSAL.test(describeError(err))) throw err;
        authEnabled = true;
      }
    }
    if (v2Served) {
      for (const prefix of await findV2Prefixes(v2, wanted).catch(() => [])) prefixes.push({ prefix, api: 'v2' });
      if (!base) authEnabled = await v2.authEnabled().catch(() => undefined);
    }
    const report: ExploreResult = base ?? {
      endpoints: cfg.endpoints,
      tls: usesTls(cfg),
      clientCertificate: cfg.clientCertFile !== undefined,
      auth: cfg.username !== undefined,
      etcdVersion: server?.etcdserver ?? 'unknown',
      apiVersions: [],
      clusterId: '',
      memberId: '',
      leader: '',
      members: [],
      dbSizeBytes: 0,
      revision: 0,
      raftIndex: 0,
      raftTerm: 0,
    };
    return {
      ...report,
      apiVersions: [...(base ? ['v3'] : []), ...(v2Served ? ['v2'] : [])],
      v2: v2Served,
      v3: base !== undefined,
      kubernetes: { distribution: detectDistribution(prefixes.map((p) => p.prefix)), prefixes },
      authEnabled,
      clientCertificateRequired: await clientCertRequired(cfg),
    };
  } finally {
    v2.close();
  }
}

/** Tries the endpoint without a client certificate: refused at the TLS layer means one is required. */
async function clientCertRequired(cfg: EtcdConfig): Promise<boolean | undefined> {
  if (!usesTls(cfg)) return undefined;
  const bare = new V2Client(cfg, { withoutClientCert: true });
  try {
    await bare.version();
    return false;
  } catch (err) {
    return TLS_REFUSAL.test(describeError(err)) ? true : undefined;
  } finally {
    bare.close();
  }
}
