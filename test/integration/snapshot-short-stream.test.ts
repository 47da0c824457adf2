import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import { runCli } from '../helpers/cli.js';
import { startEtcdCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { listFiles, loadBigValues } from '../helpers/faults.js';
import { startShortSnapshotProxy, type ShortSnapshotProxy } from '../helpers/grpc-short-proxy.js';

const MiB = 1024 * 1024;

/**
 * A member that closes its snapshot stream early without an error (a gRPC status OK after part of the file, as an
 * HTTP/2 proxy or a member shutting down may): the bytes fail etcd's trailer check. With several endpoints, that used
 * to fail the backup (exit 1, "cut short?") though two members were healthy; now the snapshot is taken again, from
 * the start, of another member, as for a stream that breaks with an error. Each member is reached through a gRPC proxy
 * that cuts the first snapshot stream it is asked for (a budget shared by the three: whichever member is chosen).
 */
describe('a snapshot stream that ends short without an error', () => {
  let cluster: TestCluster;
  let proxies: ShortSnapshotProxy[];
  const budget = { cuts: 0 };
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rs-short-stream-'));
    cluster = await startEtcdCluster(3);
    await loadBigValues(cluster.endpoints[0]!, 8); // a few MiB: the cut comes at 1 MiB
    proxies = await Promise.all(cluster.endpoints.map((e) => startShortSnapshotProxy(new URL(e).host, { cutAfterBytes: MiB, budget })));
  }, 120_000);
  afterAll(async () => {
    for (const p of proxies ?? []) await p.close();
    await cluster?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const env = (store: string) => ({ RS_ETCD_ENDPOINTS: proxies.map((p) => `http://${p.address}`).join(','), RS_BACKUP_DIR: store });

  it('one member ends short: the snapshot of another member is stored whole, and it verifies', async () => {
    budget.cuts = 1;
    const store = join(dir, 'one');
    const res = await runCli(['backup', '--json'], env(store));
    expect(res.code, res.stderr).toBe(0);
    expect(budget.cuts).toBe(0);
    expect(res.stderr).toMatch(/its stream ended after \d+ bytes without an error, short of a whole snapshot/);
    expect(res.stderr).toMatch(/"msg":"the snapshot stream of http:\/\/127\.0\.0\.1:\d+ broke mid-way: taking the snapshot again, from the start, of another member"/);
    const m = JSON.parse(res.stdout) as Manifest;
    const verify = await runCli(['verify', m.id], env(store));
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  });

  it('every member ends short: exit 1, each named, nothing stored', async () => {
    budget.cuts = 3;
    const store = join(dir, 'all');
    const res = await runCli(['backup'], env(store));
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/the snapshot stream broke mid-way on every member of RS_ETCD_ENDPOINTS: .*ended after \d+ bytes without an error.*; .*; .*nothing was stored/);
    expect((await listFiles(join(store, 'default')).catch(() => [])).filter((f) => !f.startsWith('.'))).toEqual([]);
  });
});
