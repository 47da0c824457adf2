import type { EtcdMember } from '../archive/manifest.js';
import { printable } from './printable.js';

/** The member flags a data-dir restore was given, as far as the warning needs them. */
export interface RestoreMemberFlags {
  name?: string | undefined;
  initialCluster?: string | undefined;
}

/**
 * Why a data-dir restore of a snapshot of several members, without --initial-cluster, deserves a word: etcd makes it
 * a new cluster of one member ("default" without --name). In a recovery of a control plane, each member restored that
 * way is a cluster of its own (split brain) that the others cannot join. A one-member copy is a fair choice too, so
 * this is a warning: it names the source's members, the flags that restore each, and how to say "one member" outright.
 * Undefined when the source had one member, did not record its members (older backups), or --initial-cluster was given.
 */
export function sourceMembersWarning(members: readonly EtcdMember[] | undefined, flags: RestoreMemberFlags): string | undefined {
  if (members === undefined || members.length < 2 || flags.initialCluster !== undefined) return undefined;
  const named = members.map((m, i) => ({ name: m.name === '' ? `member${i + 1}` : printable(m.name), urls: m.peerURLs.map(printable) }));
  const listed = named.map((m) => `${m.name} (${m.urls.join(',') || 'no peer URL'})`).join(', ');
  const cluster = named.flatMap((m) => m.urls.map((u) => `${m.name}=${u}`)).join(',');
  const first = named[0]!;
  const firstUrl = first.urls[0] ?? 'https://IP:2380';
  const name = flags.name ?? 'default';
  return (
    `the backup was taken from a cluster of ${members.length} members, ${listed}, and is restored without --initial-cluster: ` +
    `this data dir becomes a new cluster of one member named "${printable(name)}". To restore the cluster, restore once per member, ` +
    `each with its own --name and --initial-advertise-peer-urls and the same --initial-cluster (with the new peer URLs if they changed), ` +
    `like --name ${first.name} --initial-advertise-peer-urls ${firstUrl} --initial-cluster ${cluster || `${first.name}=${firstUrl}`}. ` +
    `A single member (a copy for development) is fine: say so with --name ${first.name} --initial-cluster ${first.name}=${firstUrl} --initial-advertise-peer-urls ${firstUrl}`
  );
}
