import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import { runCli } from '../helpers/cli.js';
import { startEtcdCluster, type ClusterMember, type TestCluster } from '../helpers/etcd-cluster.js';

/**
 * A member that is frozen (SIGSTOP: a hung VM, a network that drops its packets) neither answers nor refuses: every
 * call sent to it waited for the whole RS_ETCD_TIMEOUT and then failed the backup ("etcd did not answer within 30 s
 * ... is etcd stopped?") although the two other members answered. An attempt now gets a share of that time when
 * there are several members, and the call goes on with another one.
 */
describe('a member frozen during backups', () => {
  let cluster: TestCluster;
  let frozen: ClusterMember;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rs-frozen-'));
    cluster = await startEtcdCluster(3);
    const client = new Etcd3({ hosts: cluster.endpoints[0]! });
    try {
      for (let i = 0; i < 2000; i += 50) {
        await Promise.all(Array.from({ length: 50 }, (_, j) => client.put(`/registry/configmaps/default/c-${i + j}`).value('x'.repeat(500))));
      }
    } finally {
      client.close();
    }
    const leader = await cluster.leader();
    frozen = cluster.members.find((m) => m !== leader)!;
    frozen.process.kill('SIGSTOP');
  }, 120_000);
  afterAll(async () => {
    frozen?.process.kill('SIGCONT');
    await cluster?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('key dumps complete from the members that answer', async () => {
    const env = {
      RS_ETCD_ENDPOINTS: cluster.endpoints.join(','),
      RS_BACKUP_DIR: join(dir, 'store'),
      RS_BACKUP_STRATEGY: 'raw',
      RS_KUBE_PREFIXES: '/registry',
      RS_ETCD_TIMEOUT: '15s',
    };
    // Each run sends a few dozen calls to members picked at random: some go to the frozen one.
    for (let run = 0; run < 2; run++) {
      const res = await runCli(['backup', '--json'], env, { timeoutMs: 90_000 });
      expect(res.code, res.stderr).toBe(0);
      expect((JSON.parse(res.stdout) as Manifest).keys).toBe(2000);
    }
  }, 200_000);

  // A fresh process knows nothing of the members: its first call sent to the frozen one (the pool picks at random)
  // waited the whole time of an attempt (10 s) before going to the next member, and said "etcd does not answer". A
  // member whose connection is not made while another's is, is now passed over within a second.
  it('a fresh process does not wait an attempt on the frozen member before going to another', async () => {
    const env = {
      RS_ETCD_ENDPOINTS: cluster.endpoints.join(','),
      RS_BACKUP_DIR: join(dir, 'fresh'),
      RS_BACKUP_STRATEGY: 'raw',
      RS_KUBE_PREFIXES: '/registry',
      RS_ETCD_TIMEOUT: '30s',
      // The v2 API's probe (GET /version) is another path (its own test below): only gRPC calls here.
      RS_ETCD_API_VERSION: 'v3',
    };
    // Each run makes dozens of calls, the first of them with no member known: the frozen one is met in every run.
    for (let run = 0; run < 3; run++) {
      const res = await runCli(['backup', '--json'], env, { timeoutMs: 120_000 });
      expect(res.code, res.stderr).toBe(0);
      expect((JSON.parse(res.stdout) as Manifest).keys).toBe(2000);
      expect(res.stderr.split('\n').filter((l) => l.includes('etcd does not answer')), res.stderr).toEqual([]);
    }
  }, 400_000);

  // Each fresh process asks every endpoint for its cluster before the backup (one-cluster.ts), and waited 3 s for the
  // frozen member's answer, in silence, where the calls pass it over after a second. The check now gives up on it a
  // second after another member answered, says so, and the backup's calls pass it over from the start.
  it("the one-cluster check passes the frozen member over, saying so, and the backup is the others' cluster's", async () => {
    const env = { RS_ETCD_ENDPOINTS: cluster.endpoints.join(','), RS_BACKUP_DIR: join(dir, 'check'), RS_BACKUP_STRATEGY: 'raw', RS_KUBE_PREFIXES: '/registry', RS_ETCD_API_VERSION: 'v3' };
    const res = await runCli(['backup', '--json'], env, { timeoutMs: 90_000 });
    expect(res.code, res.stderr).toBe(0);
    expect((JSON.parse(res.stdout) as Manifest).keys).toBe(2000);
    const said = res.stderr.split('\n').filter((l) => l.includes('passing over'));
    expect(said, res.stderr).toHaveLength(1);
    expect(said[0]).toContain(`passing over ${frozen.endpoint}: it did not answer within a second of the other members (frozen?); the others are used, and nothing is read from it, whose cluster is not known`);
    expect(res.stderr.split('\n').filter((l) => l.includes('etcd does not answer')), res.stderr).toEqual([]);
  }, 120_000);

  // RS_ETCD_API_VERSION=auto asks GET /version and GET /v2/keys/ over HTTP, and the v2 client tried the endpoints in
  // order, each for the whole RS_ETCD_TIMEOUT: with the frozen member first, every backup waited twice that, in
  // silence, before it read a key. A read now goes to the next endpoint too when one has not answered within a second.
  it('the API version probe does not wait RS_ETCD_TIMEOUT for a frozen first endpoint', async () => {
    const order = [frozen.endpoint, ...cluster.endpoints.filter((e) => e !== frozen.endpoint)];
    const env = { RS_ETCD_ENDPOINTS: order.join(','), RS_BACKUP_DIR: join(dir, 'v2-probe'), RS_BACKUP_STRATEGY: 'raw', RS_KUBE_PREFIXES: '/registry', RS_ETCD_TIMEOUT: '30s' };
    const res = await runCli(['backup', '--json'], env, { timeoutMs: 150_000 });
    expect(res.code, res.stderr).toBe(0);
    const m = JSON.parse(res.stdout) as Manifest;
    expect(m.keys).toBe(2000);
    // No read waited for the frozen member's RS_ETCD_TIMEOUT (before: twice that).
    expect(m.durationMs, res.stderr).toBeLessThan(30_000);
  }, 200_000);

  it('snapshots are taken of a member that answers, without a false word of a closed channel', async () => {
    const env = { RS_ETCD_ENDPOINTS: cluster.endpoints.join(','), RS_BACKUP_DIR: join(dir, 'snap'), RS_ETCD_TIMEOUT: '15s' };
    for (let run = 0; run < 2; run++) {
      const res = await runCli(['backup', '--strategy', 'snapshot', '--json'], env, { timeoutMs: 90_000 });
      expect(res.code, res.stderr).toBe(0);
      // The frozen member's check is ended once another member is found current: not retried, not said as a closed
      // channel (4901e1e). A later call the pool sends to the frozen member (the member listing) still waits one
      // attempt and says so, truly: which member the pool picks is random (CI on 4e9ff70 met it).
      expect(res.stderr).not.toMatch(/Channel closed/);
      const waits = res.stderr.split('\n').filter((l) => l.includes('etcd does not answer'));
      expect(waits.filter((l) => !l.includes('no answer within the time one attempt is given')), res.stderr).toEqual([]);
    }
  }, 200_000);
});
