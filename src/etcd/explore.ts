import type { Etcd3, IStatusResponse } from 'etcd3';
import type { EtcdConfig } from '../config/types.js';
import { usesTls } from './client.js';
import { toEtcdError } from './errors.js';
import { endpointStatusOf, type EndpointStatus } from './one-cluster.js';

export interface ExploreResult {
  endpoints: string[];
  tls: boolean;
  clientCertificate: boolean;
  auth: boolean;
  etcdVersion: string;
  apiVersions: string[];
  clusterId: string;
  memberId: string;
  leader: string;
  members: Array<{ id: string; name: string; clientURLs: string[]; peerURLs: string[]; isLeader: boolean }>;
  dbSizeBytes: number;
  revision: number;
  raftIndex: number;
  raftTerm: number;
  /** Alarms etcd has raised (`NOSPACE`, `CORRUPT`), as `etcdctl endpoint status` lists them: etcd refuses writes under them. */
  alarms: string[];
  /** With one endpoint, its own status from the same answer: it need not be asked again (see ops/explore.ts). */
  endpointStatus?: EndpointStatus[];
}

/**
 * Probes a v3 endpoint: version, members and leader, database size and revision. `known`: a member's status the
 * one-cluster check got already, taken rather than asking one again.
 */
export async function exploreV3(client: Etcd3, cfg: EtcdConfig, known?: EndpointStatus): Promise<ExploreResult> {
  try {
    const asked = known === undefined ? await client.maintenance.status() : undefined;
    const status = asked ?? statusOf(known!);
    const members = await client.cluster.memberList({});
    return {
      endpoints: cfg.endpoints,
      tls: usesTls(cfg),
      clientCertificate: cfg.clientCertFile !== undefined,
      auth: cfg.username !== undefined,
      etcdVersion: status.version,
      apiVersions: ['v3'],
      clusterId: status.header.cluster_id,
      memberId: status.header.member_id,
      leader: status.leader,
      members: members.members.map((m) => ({
        id: m.ID,
        name: m.name,
        clientURLs: m.clientURLs,
        peerURLs: m.peerURLs,
        isLeader: m.ID === status.leader,
      })),
      dbSizeBytes: Number(status.dbSize),
      revision: Number(status.header.revision),
      raftIndex: Number(status.raftIndex),
      raftTerm: Number(status.raftTerm),
      // Only alarms: a member cut off from the others lists "etcdserver: no leader" there too, which is no alarm.
      alarms: (status.errors ?? []).filter((e) => /alarm:/.test(e)).map(alarmText),
      ...(cfg.endpoints.length === 1 && asked !== undefined && { endpointStatus: [endpointStatusOf(cfg.endpoints[0]!, asked)] }),
    };
  } catch (err) {
    throw toEtcdError(err, 'exploring etcd', cfg);
  }
}

/** The fields of a status answer that exploreV3 reads, as the one-cluster check kept them. */
function statusOf(s: EndpointStatus): Pick<IStatusResponse, 'version' | 'leader' | 'dbSize' | 'raftIndex' | 'raftTerm' | 'errors'> & { header: Pick<IStatusResponse['header'], 'cluster_id' | 'member_id' | 'revision'> } {
  return {
    version: s.version ?? '',
    leader: s.leader ?? '',
    dbSize: String(s.dbSize ?? 0),
    raftIndex: String(s.raftIndex ?? 0),
    raftTerm: String(s.raftTerm ?? 0),
    errors: s.errors ?? [],
    header: { cluster_id: s.cluster ?? '', member_id: s.memberId ?? '', revision: String(s.revision ?? 0) },
  };
}

/** `memberID:7204706543579000299 alarm:NOSPACE ` (etcd's status) as `NOSPACE (member 7204706543579000299)`. */
function alarmText(error: string): string {
  const m = /memberID:(\d+)\s+alarm:(\w+)/.exec(error);
  return m ? `${m[2]!} (member ${m[1]!})` : error.trim();
}
