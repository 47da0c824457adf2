import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import { dumpDigests } from '../helpers/big-values.js';
import { runCli } from '../helpers/cli.js';
import { startEtcdCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { loadBigValues, portOf, whileRunning } from '../helpers/faults.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

const MiB = 1024 * 1024;

/**
 * A three-member cluster, one member killed in the middle of a key dump: the dump goes on from the others and is the
 * same dump, at the same revision, as one made before the kill. A throttling proxy in front of each member makes the
 * kill land mid-transfer.
 */
describe('a member dies during a key dump', () => {
  let cluster: TestCluster;
  let proxies: TcpProxy[];
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rs-cluster-'));
    cluster = await startEtcdCluster(3);
    // 24 MiB of incompressible values in 1000 keys.
    await loadBigValues(cluster.endpoints[0]!, 1000, 24 * 1024);
    proxies = await Promise.all(cluster.endpoints.map((e) => startTcpProxy(portOf(e))));
  }, 120_000);
  afterAll(async () => {
    await Promise.all((proxies ?? []).map((p) => p.close()));
    await cluster?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('the dump completes from another member and is identical at its revision', async () => {
    const storeDir = join(dir, 'store');
    const env = {
      RS_ETCD_ENDPOINTS: proxies.map((p) => `http://${p.address}`).join(','),
      RS_BACKUP_DIR: storeDir,
      RS_BACKUP_STRATEGY: 'raw',
      RS_COMPRESSION: 'none',
      RS_KUBE_PREFIXES: '/registry',
      RS_RETENTION_KEEP_LAST: '2',
    };
    const reference = await runCli(['backup', '--json'], env);
    expect(reference.code, reference.stderr).toBe(0);
    const ref = JSON.parse(reference.stdout) as Manifest;

    for (const p of proxies) p.rate = 4 * MiB;
    const down = () => proxies.reduce((n, p) => n + p.bytesDown, 0);
    const start = down();
    const running = runCli(['backup', '--json'], env, { timeoutMs: 120_000 });
    await whileRunning(running, () => down() > start + 6 * MiB, '6 MiB of the dump');
    // The leader: the hardest member to lose (the others elect a new one before reads go on).
    const leader = await cluster.leader();
    await leader.kill();
    // proxies[i] forwards to members[i].
    const alive = proxies.filter((_, i) => cluster.members[i] !== leader);
    const atKill = alive.reduce((n, p) => n + p.bytesDown, 0);
    const res = await running;
    expect(res.stderr).not.toMatch(/circuit breaker|this is a bug/);
    expect(res.code, res.stderr).toBe(0);
    // The rest of the dump came through the members still alive.
    expect(alive.reduce((n, p) => n + p.bytesDown, 0) - atKill).toBeGreaterThan(MiB);
    const m = JSON.parse(res.stdout) as Manifest;
    expect(m.etcd!.revision).toBe(ref.etcd!.revision);
    const [a, b] = [await dumpDigests(join(storeDir, 'default', ref.artifact)), await dumpDigests(join(storeDir, 'default', m.artifact))];
    expect(b.values.size).toBe(1000);
    expect(b.revision).toBe(a.revision);
    expect(b.records).toBe(a.records);
  }, 180_000);
});
