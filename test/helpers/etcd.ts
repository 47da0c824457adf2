import { Etcd3 } from 'etcd3';
import { startEtcd as startLocalEtcd, type EtcdOptions, type TestEtcd } from '../../src/demo/local-etcd.js';

export type { EtcdOptions, TestEtcd };

/**
 * Raft's timing for a member that is alone in its cluster: 10 ms heartbeats and a 100 ms election timeout instead
 * of etcd's 100 ms / 1 s. A fresh member elects itself at once either way, but one started on a data dir it or a
 * restore wrote (a restart after a kill, a restored snapshot) first waits out an election timeout, and with the
 * defaults that took about 2 s of every such start. A lone member has no peer to lose a heartbeat to.
 */
export const LONE_MEMBER_TIMING = ['--heartbeat-interval', '10', '--election-timeout', '100'];

/** A real etcd (Debian's) on free loopback ports (src/demo's), with the timing of a lone member. */
export function startEtcd(opts: EtcdOptions = {}): Promise<TestEtcd> {
  return startLocalEtcd({ ...opts, args: [...LONE_MEMBER_TIMING, ...(opts.args ?? [])] });
}

/** The cluster and member ids `etcd` answers with (hex strings, as etcd's response header gives them). */
export async function etcdIdsOf(etcd: Pick<TestEtcd, 'endpoint'>): Promise<{ cluster: string; member: string }> {
  const client = new Etcd3({ hosts: etcd.endpoint });
  try {
    const { header } = await client.maintenance.status();
    return { cluster: header.cluster_id, member: header.member_id };
  } finally {
    client.close();
  }
}

/**
 * etcd's database size once it counts more than `bytes`: its status gives the size as of its last commit (every
 * 100 ms), so right after a burst of writes it still says the size before them.
 */
export async function dbSizeOver(etcd: Pick<TestEtcd, 'ctl'>, bytes: number): Promise<number> {
  for (;;) {
    const [status] = JSON.parse(await etcd.ctl(['endpoint', 'status', '-w', 'json'])) as Array<{ Status: { dbSize: number } }>;
    if (status!.Status.dbSize > bytes) return status!.Status.dbSize;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
