import type { Etcd3 } from 'etcd3';
import type { EtcdConfig } from '../config/types.js';
import { EtcdError, describeError } from '../core/errors.js';
import { DEFAULT_PREFIXES, detectDistribution } from '../kube/index.js';
import { goesWithoutToken } from './auth-channel.js';
import { createEtcdClient, usesTls } from './client.js';
import { EtcdCredentialsError, toEtcdError } from './errors.js';
import { exploreV3, type ExploreResult } from './explore.js';
import { normalisePrefixes } from './key-ranges.js';
import { countV3Prefixes, findV2Prefixes } from './kube-prefixes.js';
import { answeredStatus, type EndpointStatus, type QuorumLostError } from './one-cluster.js';
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
  /**
   * Why the v3 keyspace could not be read: etcd refused the credentials, wanted some, or denied the user. The report
   * then holds what etcd tells without them (version, members, status; the v2 keyspace), and `explore` fails.
   */
  keyspaceError?: string;
  /** The v3 keyspace was not read because etcd has lost its quorum (keyspaceError says so): nothing was looked for. */
  quorumLost?: boolean;
  /** Configured endpoints that did not answer (a member down), with why: the others were explored. */
  unanswered?: Array<{ endpoint: string; error: string }>;
  /** Each configured endpoint's own status (its leader, raft term and index, revision), as `etcdctl endpoint status`. */
  endpointStatus?: EndpointStatus[];
}

const TLS_REFUSAL = /certificate|handshake|alert|socket hang up|ECONNRESET/i;

/**
 * Probes an endpoint through both APIs; fails only when neither answers. `known`: a member's status the one-cluster
 * check got, which tells the v3 facts without asking a member once more.
 */
export async function exploreEndpoint(etcd: Etcd3, cfg: EtcdConfig, configuredPrefixes: readonly string[], known?: EndpointStatus): Promise<EndpointReport> {
  const v2 = new V2Client(cfg);
  try {
    const server = await v2.version().catch(() => undefined);
    const v2Served = await v2.served().catch(() => false);
    // etcd 2.x has no v3 API: do not wait for a gRPC connection that cannot come.
    const v2Only = server !== undefined && Number(server.etcdserver.split('.')[0]) < 3;
    const { base, error: v3Error, keyspaceError: refused } = v2Only ? {} : await probeV3(etcd, cfg, known);
    let keyspaceError = refused;
    // Refused credentials are reported with what could be found, if anything answered.
    const answered = base !== undefined || v2Served || (keyspaceError !== undefined && server !== undefined);
    if (!answered) throw v3Error ?? new EtcdError(`${cfg.endpoints.join(',')} serves neither etcd API (is it etcd?)`);
    const wanted = normalisePrefixes([...DEFAULT_PREFIXES, ...configuredPrefixes]);
    const prefixes: FoundPrefix[] = [];
    let authEnabled: boolean | undefined = cfg.username !== undefined ? true : undefined;
    if (base && keyspaceError === undefined) {
      try {
        for (const p of await countV3Prefixes(etcd, wanted)) if (p.keys > 0) prefixes.push({ ...p, api: 'v3' });
        authEnabled ??= false;
      } catch (err) {
        const failed = toEtcdError(err, 'reading the v3 keyspace', cfg);
        if (!(failed instanceof EtcdCredentialsError)) throw failed;
        keyspaceError = unreadKeyspace(cfg, failed);
        authEnabled = true;
      }
    }
    // Credentials set, and etcd said its authentication is disabled (the calls went on without them).
    if (authEnabled === true && goesWithoutToken(etcd)) authEnabled = false;
    if (v2Served) {
      for (const prefix of await findV2Prefixes(v2, wanted).catch(() => [])) prefixes.push({ prefix, api: 'v2' });
      if (!base && keyspaceError === undefined) authEnabled = await v2.authEnabled().catch(() => undefined);
    }
    const report = base ?? factsWithoutV3(cfg, server?.etcdserver);
    return {
      ...report,
      apiVersions: [...(base ? ['v3'] : []), ...(v2Served ? ['v2'] : [])],
      v2: v2Served,
      v3: base !== undefined,
      kubernetes: { distribution: detectDistribution(prefixes.map((p) => p.prefix)), prefixes },
      authEnabled,
      clientCertificateRequired: await clientCertRequired(cfg),
      ...(keyspaceError !== undefined && { keyspaceError }),
    };
  } finally {
    v2.close();
  }
}

/** What the v3 API tells, or why it told nothing; refused credentials also say why the keyspace was not read. */
async function probeV3(etcd: Etcd3, cfg: EtcdConfig, known?: EndpointStatus): Promise<{ base?: ExploreResult; error?: unknown; keyspaceError?: string }> {
  try {
    return { base: await exploreV3(etcd, cfg, known) };
  } catch (err) {
    if (!(err instanceof EtcdCredentialsError)) return { error: err };
    // Refused credentials fail every call of the client, even those etcd answers anyone.
    const base = await exploreWithoutCredentials(cfg);
    return { error: err, keyspaceError: unreadKeyspace(cfg, err), ...(base && { base }) };
  }
}

const unreadKeyspace = (cfg: EtcdConfig, err: EtcdCredentialsError) => `the v3 keyspace could not be read at ${cfg.endpoints.join(',')}: ${err.reason}`;

/**
 * What explore reports of a cluster that lost its quorum: the facts of a member that answered (version, database
 * size, its revision), the members as it lists them (none leads), each endpoint's status, and as keyspaceError why
 * nothing more was read (explore then fails with it).
 */
export function quorumLostReport(cfg: EtcdConfig, err: QuorumLostError): EndpointReport {
  const s = answeredStatus(err.statuses);
  const facts = factsWithoutV3(cfg, s?.version);
  const members = err.members.filter((m) => m.id !== '').map(({ id, name, clientURLs, peerURLs }) => ({ id, name, clientURLs, peerURLs, isLeader: false }));
  return {
    ...facts,
    ...(s !== undefined && { apiVersions: ['v3'], clusterId: s.cluster ?? '', memberId: s.memberId ?? '', leader: '0', dbSizeBytes: s.dbSize ?? 0, revision: s.revision ?? 0, raftIndex: s.raftIndex ?? 0, raftTerm: s.raftTerm ?? 0 }),
    members,
    v2: false,
    v3: s !== undefined,
    kubernetes: { distribution: 'none', prefixes: [] },
    authEnabled: undefined,
    clientCertificateRequired: undefined,
    keyspaceError: err.message,
    quorumLost: true,
    endpointStatus: err.statuses,
  };
}

/** The report's facts when the v3 API told none: the configuration and the version /version gave. */
function factsWithoutV3(cfg: EtcdConfig, etcdVersion: string | undefined): ExploreResult {
  return {
    endpoints: cfg.endpoints,
    tls: usesTls(cfg),
    clientCertificate: cfg.clientCertFile !== undefined,
    auth: cfg.username !== undefined,
    etcdVersion: etcdVersion ?? 'unknown',
    apiVersions: [],
    clusterId: '',
    memberId: '',
    leader: '',
    members: [],
    dbSizeBytes: 0,
    revision: 0,
    raftIndex: 0,
    raftTerm: 0,
    alarms: [],
  };
}

/** The v3 facts etcd tells anyone (version, members, status), for when it refused the configured credentials. */
async function exploreWithoutCredentials(cfg: EtcdConfig): Promise<ExploreResult | undefined> {
  const { username: _username, password: _password, ...anonymous } = cfg;
  const etcd = createEtcdClient(anonymous);
  try {
    return await exploreV3(etcd, cfg);
  } catch {
    return undefined;
  } finally {
    etcd.close();
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
