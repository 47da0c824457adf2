import type { Etcd3 } from 'etcd3';
import type { EtcdMember } from '../archive/manifest.js';
import type { EtcdConfig } from '../config/types.js';
import { describeError } from '../core/errors.js';
import type { Logger } from '../log.js';

/** The cluster a v3 backup was taken from: its id and members, as far as they could be read. */
export interface SourceCluster {
  clusterId?: string;
  members?: EtcdMember[];
}

/**
 * The cluster a v3 backup was taken from, for its manifest: its id (the one-cluster check's, which the content was
 * read under, else the member list's) and its members with their ids (a restore of a snapshot of several members as
 * one warns with them; a backup of another cluster than the one before it is told with them). Only facts to record: a
 * list that cannot be read (auth without the right, etcd gone after the backup was read) leaves the members out, with
 * a debug line, and never fails the backup; a list a member of another cluster answered is left out too.
 */
export async function sourceMembers(client: Etcd3, cfg: EtcdConfig, log: Logger): Promise<SourceCluster> {
  const checked = cfg.checkedCluster;
  try {
    const list = await client.cluster.memberList({});
    const clusterId = checked ?? list.header.cluster_id;
    if (list.header.cluster_id !== clusterId) {
      log.debug({ listedBy: list.header.cluster_id, checked }, 'the member list came from another cluster than the one checked; the manifest leaves it out');
      return { clusterId };
    }
    return { clusterId, members: list.members.map((m) => ({ name: m.name, peerURLs: [...m.peerURLs], id: m.ID })) };
  } catch (err) {
    log.debug({ err: describeError(err) }, 'could not list the members of etcd; the manifest leaves them out');
    return checked === undefined ? {} : { clusterId: checked };
  }
}
