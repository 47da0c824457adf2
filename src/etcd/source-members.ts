import type { Etcd3 } from 'etcd3';
import type { EtcdMember } from '../archive/manifest.js';
import { describeError } from '../core/errors.js';
import type { Logger } from '../log.js';

/**
 * The members of the cluster a v3 backup was taken from, for its manifest (a restore of a snapshot of several members
 * as one warns with them). Only a fact to record: a list that cannot be read (auth without the right, etcd gone after
 * the backup was read) leaves it out, with a debug line, and never fails the backup.
 */
export async function sourceMembers(client: Etcd3, log: Logger): Promise<EtcdMember[] | undefined> {
  try {
    const list = await client.cluster.memberList({});
    return list.members.map((m) => ({ name: m.name, peerURLs: [...m.peerURLs] }));
  } catch (err) {
    log.debug({ err: describeError(err) }, 'could not list the members of etcd; the manifest leaves them out');
    return undefined;
  }
}
