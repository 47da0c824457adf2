import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killStarted, startRun, type BackgroundRun } from '../helpers/background-run.js';
import { etcdIdsOf, startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { freePort } from '../helpers/ports.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

/**
 * `run` whose endpoints' names come to reach another etcd cluster while it runs (a cluster re-created behind the same
 * DNS names): played by proxies in front of etcd A that are turned to etcd B, their connections cut. Scheduled
 * backups check the cluster each time (a backup is of B, warned of, counted). Continuous backups pinned their watch to
 * the cluster run found at its start: the chain of A broke, a full backup of B was taken, and its own chain was then
 * refused as "not cluster A", broken and taken again, one full backup after another with a growing pause, and no
 * change of B was ever recorded. A chain's watch now expects its base's cluster. And the watch, resumed on B, behind
 * the last change recorded, retried its read at that revision 20 times before it said so.
 */
let a: TestEtcd;
let b: TestEtcd;
let dir: string;
const proxies: TcpProxy[] = [];

interface Stored {
  id: string;
  base?: string;
  etcd?: { clusterId?: string };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rs-run-swap-'));
  [a, b] = await Promise.all([startEtcd(), startEtcd()]);
  await Promise.all([a.ctl(['put', '/registry/configmaps/default/x', 'from-a']), b.ctl(['put', '/registry/configmaps/default/x', 'from-b'])]);
  for (let i = 0; i < 2; i++) proxies.push(await startTcpProxy(portOf(a)));
}, 60_000);
afterAll(async () => {
  killStarted();
  await Promise.all([...proxies.map((p) => p.close()), a?.stop(), b?.stop()]);
  await rm(dir, { recursive: true, force: true });
});

function portOf(etcd: TestEtcd): number {
  return Number(new URL(etcd.endpoint).port);
}

/** The proxies' names now reach `etcd`: new connections go there, open ones are cut. */
function swapTo(etcd: TestEtcd): void {
  for (const p of proxies) {
    p.retarget(portOf(etcd));
    p.cut();
  }
}


async function stored(store: string): Promise<Stored[]> {
  const names = (await readdir(join(store, 'default'))).filter((f) => f.endsWith('.manifest.json')).sort();
  return Promise.all(names.map(async (f) => JSON.parse(await readFile(join(store, 'default', f), 'utf8')) as Stored));
}

/** Waits until what run logged after `offset` matches `re`. */
async function untilAfter(run: BackgroundRun, offset: number, re: RegExp, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!re.test(run.log().slice(offset))) {
    if (Date.now() > end) throw new Error(`no ${re} in the log of run after the swap:\n${run.log().slice(offset)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function stop(run: BackgroundRun): Promise<string> {
  run.child().kill('SIGTERM');
  return (await run.done).stderr;
}

describe('run whose endpoints come to reach another etcd cluster', () => {
  it('each scheduled backup sees the cluster it reaches: the first of B is warned of and counted', async () => {
    swapTo(a);
    const [clusterA, clusterB] = await Promise.all([a, b].map(async (e) => (await etcdIdsOf(e)).cluster));
    const store = join(dir, 'scheduled');
    const port = await freePort();
    const run = startRun({ RS_ETCD_ENDPOINTS: `http://${proxies[0]!.address}`, RS_BACKUP_DIR: store, RS_BACKUP_STRATEGY: 'raw', RS_SCHEDULE: '*/2 * * * * *', RS_HTTP_PORT: String(port) });
    await run.until(/"msg":"backup completed"/);
    swapTo(b);
    const after = run.log().length;
    // Two backups after the swap: the first, of B, warned of; the next one not.
    await untilAfter(run, after, /"msg":"backup completed"[\s\S]*"msg":"backup completed"/);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const log = await stop(run);
    expect(log.slice(after)).toContain(`is of etcd cluster ${clusterB} (members `);
    expect(log.slice(after)).toContain(`is of etcd cluster ${clusterA} (members `);
    expect(metrics).toMatch(/^reshifter_backup_etcd_cluster_changes_total 1$/m);
    expect(metrics).toMatch(/^reshifter_backup_etcd_clusters 2$/m);
    const clusters = (await stored(store)).map((m) => m.etcd?.clusterId);
    expect(clusters[0]).toBe(clusterA);
    expect(clusters.at(-1)).toBe(clusterB);
    // Once B's, always B's: no backup of A after the first of B.
    expect(clusters.slice(clusters.indexOf(clusterB))).not.toContain(clusterA);
  }, 90_000);

  it("continuous backups start a chain of B's changes after one full backup of B", async () => {
    swapTo(a);
    const clusterB = (await etcdIdsOf(b)).cluster;
    const store = join(dir, 'continuous');
    const endpoints = proxies.map((p) => `http://${p.address}`).join(',');
    const run = startRun({ RS_ETCD_ENDPOINTS: endpoints, RS_BACKUP_DIR: store, RS_BACKUP_STRATEGY: 'snapshot', RS_DELTA_INTERVAL: '1s', RS_SCHEDULE: '0 0 1 1 *', RS_HTTP_PORT: '0' });
    await run.until(/"msg":"watching etcd for changes"/);
    await a.ctl(['put', '/registry/configmaps/default/y', 'from-a']);
    await run.until(/"msg":"delta segment stored"/);
    swapTo(b);
    await run.until(/is of etcd cluster \d+ \(members [\s\S]*"msg":"watching etcd for changes again"/);
    await b.ctl(['put', '/registry/configmaps/default/z', 'from-b']);
    const after = run.log().length;
    await untilAfter(run, after, /"msg":"delta segment stored"/);
    const log = await stop(run);
    expect(log).not.toContain('fails again right after a fresh full backup');
    // B is behind the last change recorded of A: said at once, with B's revision, not after 20 attempts (25 s) of a
    // read at a revision B has not reached, retried as of a member catching up.
    expect(log).toContain('no longer holds the change recorded at revision 3 (it is at revision 2, behind it)');
    const all = await stored(store);
    const fullOfB = all.filter((m) => m.base === undefined && m.etcd?.clusterId === clusterB);
    expect(fullOfB).toHaveLength(1);
    expect(all.filter((m) => m.base === fullOfB[0]!.id).length).toBeGreaterThan(0);
  }, 90_000);
});
