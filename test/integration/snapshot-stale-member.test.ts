import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import { runCli } from '../helpers/cli.js';
import { startEtcdCluster, type ClusterMember, type TestCluster } from '../helpers/etcd-cluster.js';

/**
 * A member cut off from the others (its peer traffic lost) still answers clients, from the data it had when it lost
 * contact: etcd serves Status and the snapshot stream locally, so `etcdctl snapshot save` of it stores stale data
 * without a word. reshifter takes a snapshot only of a member that has a leader and answers a linearizable read, and
 * records that member's revision: never the stale data, never one member's revision on another's snapshot.
 */
describe('a member cut off from the others', () => {
  let cluster: TestCluster;
  let stale: ClusterMember;
  let leaderName: string;
  let dir: string;
  let current: number;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rs-stale-'));
    cluster = await startEtcdCluster(3, { partition: true });
    const leader = await cluster.leader();
    stale = cluster.members.find((m) => m !== leader)!;
    // A follower is cut off: the leader stays the leader (the helper's leader() may ask the cut-off member later).
    leaderName = leader.name;
    await put(leader.endpoint, '/registry/configmaps/default/before');
    stale.isolate();
    current = await put(leader.endpoint, '/registry/configmaps/default/after');
    // The cut-off member answers clients, without the key written since, and soon knows no leader.
    const client = new Etcd3({ hosts: stale.endpoint });
    try {
      const deadline = Date.now() + 20_000;
      while ((await client.maintenance.status()).leader !== '0') {
        if (Date.now() > deadline) throw new Error('the cut-off member still names a leader');
        await new Promise((r) => setTimeout(r, 100));
      }
      const seen = await client.kv.range({ key: Buffer.from('/registry/configmaps/default/after'), serializable: true });
      expect(seen.kvs).toHaveLength(0);
    } finally {
      client.close();
    }
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses the snapshot when the only endpoint given is the cut-off member, naming it; nothing is stored', async () => {
    const store = join(dir, 'alone');
    const res = await runCli(['backup', '--json'], { RS_ETCD_ENDPOINTS: stale.endpoint, RS_BACKUP_DIR: store, RS_ETCD_TIMEOUT: '5s' });
    expect(res.code, res.stderr).toBe(1);
    expect(res.stderr).toMatch(new RegExp(`no member of RS_ETCD_ENDPOINTS can give a current snapshot: ${stale.endpoint} has no leader`));
    expect(res.stderr).toMatch(/none was taken/);
    expect(await readdir(join(store, 'default')).catch(() => [])).toEqual([]);
  }, 60_000);

  it('takes every snapshot of a current member, with that member revision, when all three are given', async () => {
    const store = join(dir, 'all');
    const env = { RS_ETCD_ENDPOINTS: cluster.endpoints.join(','), RS_BACKUP_DIR: store, RS_COMPRESSION: 'none' };
    // The member is picked among those found current; a few runs would each have had a chance of the stale one.
    for (let run = 0; run < 4; run++) {
      const res = await runCli(['backup', '--json'], env);
      expect(res.code, res.stderr).toBe(0);
      const m = JSON.parse(res.stdout) as Manifest;
      expect(m.etcd!.revision).toBeGreaterThanOrEqual(current);
      const inspected = await runCli(['inspect', m.id, '--json'], env);
      expect(inspected.code, inspected.stderr).toBe(0);
      // What the snapshot holds is what the manifest says: the revision of the member it was taken of.
      expect((JSON.parse(inspected.stdout) as { revision: number }).revision).toBe(m.etcd!.revision);
    }
  }, 120_000);

  it('explore names the member with no leader and how far its raft index lags, and takes "no leader" for no alarm', async () => {
    const env = { RS_ETCD_ENDPOINTS: cluster.endpoints.join(',') };
    const name = stale.name;
    const leader = leaderName;
    // Whichever member answers the summary, the lines per endpoint say the same.
    for (let run = 0; run < 3; run++) {
      const res = await runCli(['explore'], env);
      expect(res.code, res.stderr).toBe(0);
      expect(res.stdout).toMatch(new RegExp(`^  ${name} ${stale.endpoint}: NO LEADER \\(etcdserver: no leader\\), raft term \\d+, index \\d+ \\(applied \\d+, [1-9]\\d* behind\\), revision \\d+: cut off from the other members`, 'm'));
      expect(res.stdout).toMatch(new RegExp(`^  ${leader} \\S+: leader, `, 'm'));
      expect(res.stdout).not.toMatch(/^alarms:/m);
      // Passed over from the start: no linearizable read is sent there to wait etcd's 7 s and time out.
      expect(res.stderr).toContain(`passing over ${stale.endpoint}: it knows no leader (cut off from the other members); the others are used`);
      expect(res.stderr).not.toMatch(/etcd does not answer|request timed out/);
    }
    const json = JSON.parse((await runCli(['explore', '--json'], env)).stdout) as { endpointStatus: Array<{ endpoint: string; leader: string }>; alarms: string[] };
    expect(json.endpointStatus.find((s) => s.endpoint === stale.endpoint)?.leader).toBe('0');
    expect(json.alarms).toEqual([]);
  }, 120_000);

  it('stats of the live etcd says which member is cut off, then which one is down', async () => {
    const env = { RS_ETCD_ENDPOINTS: cluster.endpoints.join(',') };
    const cut = await runCli(['stats'], env);
    expect(cut.code, cut.stderr).toBe(0);
    expect(cut.stdout).toMatch(new RegExp(`^member: +${stale.endpoint} no leader: cut off from the other members, at revision \\d+: counted from the other endpoints`, 'm'));
    const healthy = cluster.members.filter((m) => m !== stale).map((m) => m.endpoint);
    expect((await runCli(['stats'], { RS_ETCD_ENDPOINTS: healthy.join(',') })).stdout).not.toMatch(/^member:/m);
    await stale.kill();
    const down = await runCli(['stats', '--json'], env);
    expect(down.code, down.stderr).toBe(0);
    const source = (JSON.parse(down.stdout) as { source: { degraded?: Array<{ endpoint: string; problem: string }> } }).source;
    expect(source.degraded?.map((d) => d.endpoint)).toEqual([stale.endpoint]);
    expect(source.degraded?.[0]?.problem).toMatch(/^not answering \(.*ECONNREFUSED/);
  }, 120_000);

  it('takes it of another member when one is down, every time', async () => {
    await stale.kill();
    const env = { RS_ETCD_ENDPOINTS: cluster.endpoints.join(','), RS_BACKUP_DIR: join(dir, 'down'), RS_COMPRESSION: 'none' };
    for (let run = 0; run < 3; run++) {
      const res = await runCli(['backup', '--json'], env);
      expect(res.code, res.stderr).toBe(0);
      expect((JSON.parse(res.stdout) as Manifest).etcd!.revision).toBeGreaterThanOrEqual(current);
    }
  }, 120_000);
});

/** Puts a key; the revision it made. */
async function put(endpoint: string, key: string): Promise<number> {
  const client = new Etcd3({ hosts: endpoint });
  try {
    const res = await client.put(key).value('v').exec();
    return Number(res.header.revision);
  } finally {
    client.close();
  }
}
