import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { startShortSnapshotProxy, type ShortSnapshotProxy } from '../helpers/grpc-short-proxy.js';

/**
 * `stats` and `explore` against several endpoints asked each member for its status twice: once in the check that the
 * endpoints are of one cluster, once more for what they show of the members (explore's statuses, stats' degraded
 * members). With a slow member the second ask doubled the wait. Each member is now asked once for its own status:
 * counted here by a gRPC proxy in front of each endpoint (two proxies before one etcd: two endpoints of one cluster).
 * The client then made one more Status call, of whichever member it picked, for the cluster's facts (etcd's version,
 * the database size), which the check's answers hold already: they are taken from there now, 2 calls in all, where
 * there were 3 (and 5 before that).
 */
const STATUS = '/etcdserverpb.Maintenance/Status';
let etcd: TestEtcd;
const proxies: ShortSnapshotProxy[] = [];
const calls = [new Map<string, number>(), new Map<string, number>()];

beforeAll(async () => {
  etcd = await startEtcd();
  await etcd.ctl(['put', '/registry/configmaps/default/a', 'x']);
  const target = etcd.endpoint.replace(/^https?:\/\//, '');
  for (const c of calls) proxies.push(await startShortSnapshotProxy(target, { cutAfterBytes: Infinity, budget: { cuts: 0 }, calls: c }));
}, 60_000);
afterAll(async () => {
  await Promise.all([...proxies.map((p) => p.close()), etcd?.stop()]);
});

const env = () => ({ RS_ETCD_ENDPOINTS: proxies.map((p) => `http://${p.address}`).join(','), RS_ETCD_API_VERSION: 'v3' });
const statusCalls = () => calls.map((c) => c.get(STATUS) ?? 0);
/** Each endpoint once, and never again for the cluster's facts. */
function expectAskedOnce(): void {
  expect(statusCalls()).toEqual([1, 1]);
}

describe('each member is asked for its status once', () => {
  it('by explore, which still shows each endpoint\'s status', async () => {
    for (const c of calls) c.clear();
    const res = await runCli(['explore', '--json'], env());
    expect(res.code, res.stderr).toBe(0);
    const json = JSON.parse(res.stdout) as { etcdVersion: string; dbSizeBytes: number; clusterId: string; endpointStatus: Array<{ endpoint: string; revision: number; cluster: string }> };
    expect(json.endpointStatus.map((s) => s.endpoint)).toEqual(proxies.map((p) => `http://${p.address}`));
    // The cluster's facts, from the check's answers.
    expect(json.etcdVersion).toMatch(/^3\.\d+\.\d+/);
    expect(json.dbSizeBytes).toBeGreaterThan(0);
    expect(json.clusterId).toBe(json.endpointStatus[0]!.cluster);
    expect(json.endpointStatus.every((s) => s.revision > 0)).toBe(true);
    expectAskedOnce();
  });

  it('by explore of one endpoint, whose status the exploring itself got', async () => {
    for (const c of calls) c.clear();
    const res = await runCli(['explore', '--json'], { RS_ETCD_ENDPOINTS: `http://${proxies[0]!.address}`, RS_ETCD_API_VERSION: 'v3' });
    expect(res.code, res.stderr).toBe(0);
    const json = JSON.parse(res.stdout) as { memberId: string; endpointStatus: Array<{ endpoint: string; memberId: string; raftAppliedIndex: number }> };
    expect(json.endpointStatus).toHaveLength(1);
    expect(json.endpointStatus[0]).toMatchObject({ endpoint: `http://${proxies[0]!.address}`, memberId: json.memberId });
    expect(json.endpointStatus[0]!.raftAppliedIndex).toBeGreaterThan(0);
    expect(statusCalls()).toEqual([1, 0]);
  });

  it('by stats of the live etcd', async () => {
    for (const c of calls) c.clear();
    const res = await runCli(['stats', '--json'], env());
    expect(res.code, res.stderr).toBe(0);
    expectAskedOnce();
  });

  // The key reader asked a member once more for etcd's version, which the dump's header records: the check's answer
  // told it already.
  it.each(['raw', 'filter:configmaps', 'render'])('by a key-dump backup (%s), whose header still records etcd\'s version', async (strategy) => {
    for (const c of calls) c.clear();
    const store = await mkdtemp(join(tmpdir(), 'rs-status-once-dump-'));
    try {
      const res = await runCli(['backup', '--json'], { ...env(), RS_BACKUP_STRATEGY: strategy, RS_BACKUP_DIR: store });
      expect(res.code, res.stderr).toBe(0);
      expectAskedOnce();
      // render prints its rows before the manifest.
      const manifest = JSON.parse(res.stdout.trimEnd().split('\n').at(-1)!) as { etcd?: { version?: string } };
      expect(manifest.etcd?.version).toMatch(/^3\.\d+/);
    } finally {
      await rm(store, { recursive: true, force: true });
    }
  });
});

/**
 * A single endpoint that is frozen (SIGSTOP: it takes the connection and never answers): its status, which the check
 * of the endpoints asks, had no answer, and when the operation failed after RS_ETCD_TIMEOUT it was asked again, to
 * tell a lost quorum, and waited for once more. Asked once now.
 */
describe('a frozen single endpoint', () => {
  it('is asked for its status once, by the check of the endpoints', async () => {
    for (const c of calls) c.clear();
    const store = await mkdtemp(join(tmpdir(), 'rs-status-once-'));
    etcd.process.kill('SIGSTOP');
    try {
      const res = await runCli(['backup'], { RS_ETCD_ENDPOINTS: `http://${proxies[0]!.address}`, RS_ETCD_TIMEOUT: '2s', RS_BACKUP_STRATEGY: 'raw', RS_BACKUP_DIR: store });
      expect(res.code, res.stderr).toBe(1);
      expect(res.stderr).toMatch(/did not answer within 2(\.\d)? s/);
    } finally {
      etcd.process.kill('SIGCONT');
      await rm(store, { recursive: true, force: true });
    }
    expect(statusCalls()).toEqual([1, 0]);
  }, 60_000);
});
