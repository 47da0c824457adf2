import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { startPeerPartition, type PeerPartition } from './peer-partition.js';
import { freePort } from './ports.js';

/** One member of a test cluster. */
export interface ClusterMember {
  name: string;
  endpoint: string;
  process: ChildProcess;
  /** Kills the member with SIGKILL and waits for it to exit. */
  kill(): Promise<void>;
  /**
   * With `partition`: cuts the member off from the others (peer traffic both ways) while it still answers clients,
   * as the minority side of a network partition; `rejoin` ends it.
   */
  isolate(): void;
  rejoin(): void;
}

export interface TestCluster {
  members: ClusterMember[];
  endpoints: string[];
  /** The member that leads now. */
  leader(): Promise<ClusterMember>;
  stop(): Promise<void>;
}

/**
 * A real etcd cluster of `size` members (Debian's etcd) on free loopback ports, for failover tests. src/demo's
 * startEtcd starts one member only; this starts them together with one --initial-cluster and waits for a leader.
 */
export async function startEtcdCluster(size = 3, opts: { partition?: boolean } = {}): Promise<TestCluster> {
  // Free ports are found before the members bind them: another test file (they run in parallel) may take one
  // meanwhile, and the member exits 'bind: address already in use'. As src/demo's startEtcd does, try again.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startEtcdClusterOnce(size, opts);
    } catch (err) {
      if (attempt >= 3 || !/address already in use/.test((err as Error).message)) throw err;
    }
  }
}

async function startEtcdClusterOnce(size: number, opts: { partition?: boolean }): Promise<TestCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'rs-etcd-cluster-'));
  const ports = [];
  for (let i = 0; i < size; i++) ports.push({ client: await freePort(), peer: await freePort() });
  const names = ports.map((_, i) => `m${i}`);
  // With `partition`, peers reach each other through proxies that can cut one member off (peer-partition.ts).
  const partition: PeerPartition | undefined = opts.partition ? await startPeerPartition(ports.map((p) => p.peer)) : undefined;
  const advertised = ports.map((p, i) => `http://127.0.0.1:${partition?.ports[i] ?? p.peer}`);
  const initial = advertised.map((url, i) => `${names[i]}=${url}`).join(',');
  const stderr: string[] = names.map(() => '');
  const members: ClusterMember[] = ports.map((p, i) => {
    const endpoint = `http://127.0.0.1:${p.client}`;
    const proc = spawn(
      'etcd',
      [
        '--name', names[i]!,
        '--data-dir', join(dir, names[i]!),
        '--listen-client-urls', endpoint,
        '--advertise-client-urls', endpoint,
        '--listen-peer-urls', `http://127.0.0.1:${p.peer}`,
        '--initial-advertise-peer-urls', advertised[i]!,
        '--initial-cluster', initial,
        '--initial-cluster-state', 'new',
        '--initial-cluster-token', 'rs-test',
        '--log-level', 'error',
        '--logger', 'zap',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    proc.stderr?.on('data', (d: Buffer) => (stderr[i] = (stderr[i] + d.toString()).slice(-2000)));
    const exited = new Promise<void>((resolve) => {
      proc.once('exit', () => resolve());
      proc.once('error', () => resolve());
    });
    return {
      name: names[i]!,
      endpoint,
      process: proc,
      async kill() {
        if (proc.exitCode === null && proc.signalCode === null) {
          proc.kill('SIGKILL');
          await exited;
        }
      },
      isolate: () => partition!.isolate(i),
      rejoin: () => partition!.rejoin(i),
    };
  });
  const stop = async () => {
    await Promise.all(members.map((m) => m.kill()));
    await partition?.close();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const deadline = Date.now() + 30_000;
    for (const m of members) {
      for (;;) {
        if (m.process.exitCode !== null) throw new Error(`etcd member ${m.name} exited: ${stderr[members.indexOf(m)]}`);
        // /health is true once the member has a leader.
        const ok = await fetch(`${m.endpoint}/health`).then((r) => r.ok, () => false);
        if (ok) break;
        if (Date.now() > deadline) throw new Error(`etcd cluster did not start: ${stderr.join('\n')}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    if (partition) await namePeers(members, partition);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    members,
    endpoints: members.map((m) => m.endpoint),
    async leader() {
      const client = new Etcd3({ hosts: members[0]!.endpoint });
      try {
        const status = await client.maintenance.status();
        const list = await client.cluster.memberList({});
        const name = list.members.find((m) => m.ID === status.leader)?.name;
        const found = members.find((m) => m.name === name);
        if (!found) throw new Error(`no leader among ${names.join(', ')}`);
        return found;
      } finally {
        client.close();
      }
    },
    stop,
  };
}

/** Tells the partition each member's id, as etcd names the sender of a peer request (hex). */
async function namePeers(members: ClusterMember[], partition: PeerPartition): Promise<void> {
  const client = new Etcd3({ hosts: members[0]!.endpoint });
  try {
    const list = await client.cluster.memberList({});
    for (const [i, m] of members.entries()) {
      const id = list.members.find((x) => x.name === m.name)?.ID;
      if (id === undefined) throw new Error(`member ${m.name} is not in the member list`);
      partition.setId(i, BigInt(id).toString(16));
    }
  } finally {
    client.close();
  }
}
