import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import { killStarted, startRun } from '../helpers/background-run.js';
import { runCli } from '../helpers/cli.js';
import { startEtcdCluster, type ClusterMember, type TestCluster } from '../helpers/etcd-cluster.js';
import { freePort } from '../helpers/ports.js';

/**
 * A 3-member etcd that lost two members (a zone outage): the one still up answers Status, knows no leader, and fails
 * every read ("etcdserver: request timed out" / "no leader"). Every command said after RS_ETCD_TIMEOUT of retries
 * that etcd was unreachable, blaming one dead member; each now says at once that the quorum is lost (which members
 * answer, that none knows a leader, that 2 of 3 are needed) and what to do, and fails.
 */
const QUORUM_LOST = /etcd has lost its quorum: 1 of its 3 members answer \(m\d at http:\/\/127\.0\.0\.1:\d+\) and none knows a leader; .* do not answer\. etcd needs a quorum, 2 of 3 members, before anything can be read or written: bring the members that are down back .*restore the last backup into a new cluster \(README \\?"Disaster recovery\\?"\)/;

describe('a cluster that lost its quorum', () => {
  let cluster: TestCluster;
  let survivor: ClusterMember;
  let dir: string;
  let dump: Manifest;
  const env = (extra: Record<string, string> = {}) => ({ RS_ETCD_ENDPOINTS: cluster.endpoints.join(','), RS_BACKUP_DIR: join(dir, 'store'), ...extra });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rs-quorum-'));
    cluster = await startEtcdCluster(3);
    const client = new Etcd3({ hosts: cluster.endpoints });
    try {
      await client.put('/registry/configmaps/default/a').value('1');
    } finally {
      client.close();
    }
    const res = await runCli(['backup', '--json'], env({ RS_BACKUP_STRATEGY: 'filter:configmaps' }));
    expect(res.code, res.stderr).toBe(0);
    dump = JSON.parse(res.stdout) as Manifest;
    survivor = cluster.members[0]!;
    await Promise.all(cluster.members.slice(1).map((m) => m.kill()));
    await untilLeaderless(survivor.endpoint);
  }, 120_000);
  afterAll(async () => {
    await cluster?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('explore reports each member and the status of the one that answers, then fails saying the quorum is lost', async () => {
    const res = await runCli(['explore', '--json'], env());
    expect(res.code, res.stderr).toBe(1);
    expect(res.stderr).toMatch(QUORUM_LOST);
    expect(res.stderr).not.toMatch(/retrying until RS_ETCD_TIMEOUT|gave up after/);
    const report = JSON.parse(res.stdout) as { members: Array<{ name: string }>; endpointStatus: Array<{ endpoint: string; leader?: string; error?: string }>; unanswered: unknown[]; keyspaceError: string };
    expect(report.members.map((m) => m.name).sort()).toEqual(['m0', 'm1', 'm2']);
    expect(report.endpointStatus.find((s) => s.endpoint === survivor.endpoint)).toMatchObject({ leader: '0' });
    expect(report.unanswered).toHaveLength(2);
    expect(report.keyspaceError).toMatch(QUORUM_LOST);
    const text = await runCli(['explore'], env());
    expect(text.code, text.stderr).toBe(1);
    expect(text.stdout).toMatch(new RegExp(`^  m0 ${survivor.endpoint}: NO LEADER`, 'm'));
    // Nothing was looked for: not "none found", which reads as a cluster without Kubernetes.
    expect(text.stdout).toContain('kubernetes:   not known (the v3 keyspace was not read: etcd has lost its quorum)');
    expect(report).toMatchObject({ quorumLost: true });
  }, 60_000);

  it('stats, restore and backups of every strategy fail at once saying so, and store nothing', async () => {
    const before = await readdir(join(dir, 'store', 'default'));
    for (const strategy of ['snapshot', 'raw', 'render', 'filter:configmaps']) {
      const res = await runCli(['backup'], env({ RS_BACKUP_STRATEGY: strategy }));
      expect(res.code, `${strategy}: ${res.stderr}`).toBe(1);
      expect(res.stderr).toMatch(QUORUM_LOST);
      expect(res.stderr).not.toMatch(/retrying until RS_ETCD_TIMEOUT|gave up after/);
    }
    expect(await readdir(join(dir, 'store', 'default'))).toEqual(before);
    for (const args of [['stats'], ['restore', dump.id], ['restore', dump.id, '--dry-run']]) {
      const res = await runCli(args, env());
      expect(res.code, `${args.join(' ')}: ${res.stderr}`).toBe(1);
      expect(res.stderr).toMatch(QUORUM_LOST);
      expect(res.stderr).not.toMatch(/retrying until RS_ETCD_TIMEOUT|gave up after/);
    }
  }, 120_000);

  // With only the member left as the endpoint, each command waited RS_ETCD_TIMEOUT (10 minutes here) of "request
  // timed out" before it said so: the one-cluster check asked a single endpoint nothing. It is asked now, as several are.
  it('with only the member left as the endpoint, says at once that the quorum is lost, and stores nothing', async () => {
    const one = { ...env({ RS_ETCD_TIMEOUT: '10m' }), RS_ETCD_ENDPOINTS: survivor.endpoint };
    const before = await readdir(join(dir, 'store', 'default'));
    const runs = [[['explore'], 'snapshot'], [['backup'], 'render'], [['backup'], 'raw'], [['backup'], 'filter:configmaps'], [['backup'], 'snapshot'], [['stats'], 'snapshot'], [['restore', dump.id], 'snapshot']] as const;
    for (const [args, strategy] of runs) {
      const res = await runCli([...args], { ...one, RS_BACKUP_STRATEGY: strategy });
      expect(res.code, `${args.join(' ')}: ${res.stderr}`).toBe(1);
      expect(res.stderr).toMatch(QUORUM_LOST);
      expect(res.stderr).not.toMatch(/retrying until RS_ETCD_TIMEOUT|gave up after/);
    }
    expect(await readdir(join(dir, 'store', 'default'))).toEqual(before);
    const explore = await runCli(['explore', '--json'], one);
    const report = JSON.parse(explore.stdout) as { members: Array<{ name: string }>; endpointStatus: Array<{ endpoint: string; leader?: string; error?: string }>; quorumLost?: boolean };
    expect(report.members.map((m) => m.name).sort()).toEqual(['m0', 'm1', 'm2']);
    // The member left, then the others it lists, asked at their client URLs.
    expect(report.endpointStatus[0]).toMatchObject({ endpoint: survivor.endpoint, leader: '0' });
    expect(report.endpointStatus.slice(1).map((s) => s.error)).toEqual([expect.stringMatching(/ECONNREFUSED/), expect.stringMatching(/ECONNREFUSED/)]);
    expect(report).toMatchObject({ quorumLost: true });
  }, 120_000);
});

/**
 * run's watch, lost when the quorum is: it said "lost the watch of etcd" (a dropped connection) and /healthz "down
 * since ...", never why; restarted then, it ended the stored chain ("the chain ... cannot go on") for a new full
 * backup, as for endpoints of two clusters. Now /healthz and the log say the quorum is lost, and a restarted run waits
 * to go on with the stored chain.
 */
describe("run's watch when the quorum is lost", () => {
  let cluster: TestCluster;
  let dir: string;
  let port: number;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rs-quorum-run-'));
    cluster = await startEtcdCluster(3);
    port = await freePort();
  }, 60_000);
  afterAll(async () => {
    killStarted();
    await cluster?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('/healthz says the quorum is lost, and run started then waits to go on with the stored chain', async () => {
    const env = { RS_ETCD_ENDPOINTS: cluster.endpoints.join(','), RS_BACKUP_DIR: join(dir, 'store'), RS_DELTA_INTERVAL: '1s', RS_SCHEDULE: '0 3 * * *', RS_HTTP_PORT: String(port) };
    const run = startRun(env);
    await run.until(/"msg":"watching etcd for changes"/);
    await Promise.all(cluster.members.slice(1).map((m) => m.kill()));
    await untilHealthz(port, QUORUM_LOST);
    expect(run.log()).toMatch(/the watch of etcd is lost because etcd has lost its quorum/);
    run.child().kill('SIGTERM');
    await run.done;
    const again = startRun(env);
    await again.until(/continuous backups wait and try again, and go on with the stored chain once a quorum answers/);
    await untilHealthz(port, QUORUM_LOST);
    again.child().kill('SIGTERM');
    const res = await again.done;
    expect(res.stderr).not.toMatch(/cannot go on|taking a full backup/);
  }, 120_000);
});

/** Waits until run's /healthz gives a reason that matches `re`. */
async function untilHealthz(port: number, re: RegExp): Promise<void> {
  const deadline = Date.now() + 30_000;
  let last = '';
  while (!re.test(last)) {
    if (Date.now() > deadline) throw new Error(`no ${re} from /healthz: ${last}`);
    await new Promise((r) => setTimeout(r, 200));
    last = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.text(), (err: unknown) => String(err));
  }
}

/** Waits until the member knows no leader (its peers gone, it steps down or stops following). */
async function untilLeaderless(endpoint: string): Promise<void> {
  const client = new Etcd3({ hosts: endpoint });
  try {
    const deadline = Date.now() + 20_000;
    while ((await client.maintenance.status()).leader !== '0') {
      if (Date.now() > deadline) throw new Error(`${endpoint} still names a leader`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    client.close();
  }
}
