import { execFile } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../helpers/cli.js';
import { startEtcdCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { etcdIdsOf, startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { portOf } from '../helpers/faults.js';
import { freePort } from '../helpers/ports.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';

/**
 * RS_ETCD_ENDPOINTS naming members of two etcd clusters (pasted from two environments, a member left on its own after
 * a restore made a new cluster): explore mixed their answers (revision and leader of one, members of the other) and a
 * key restore wrote into either. Every etcd operation now asks each endpoint for its cluster first and refuses, exit 1,
 * naming the endpoints and their clusters, before any work. One etcd listed twice, the members of one cluster, or one
 * endpoint that is down, still work.
 */
let source: TestEtcd;
let a: TestEtcd;
let b: TestEtcd;
let cluster: TestCluster;
let dir: string;
let raw: string;
let down: string;

const KEY = '/registry/configmaps/shop/cfg';
const store = () => ({ RS_BACKUP_DIR: join(dir, 'store') });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rs-one-cluster-'));
  [source, a, b, cluster] = await Promise.all([startEtcd(), startEtcd(), startEtcd(), startEtcdCluster(3)]);
  await source.ctl(['put', KEY, 'from-source']);
  const res = await runCli(['backup', '--json', '--strategy', 'raw'], { RS_ETCD_ENDPOINTS: source.endpoint, ...store() });
  expect(res.code, res.stderr).toBe(0);
  raw = (JSON.parse(res.stdout) as { id: string }).id;
  down = `http://127.0.0.1:${await freePort()}`;
}, 120_000);
afterAll(async () => {
  await Promise.all([source?.stop(), a?.stop(), b?.stop(), cluster?.stop()]);
  await rm(dir, { recursive: true, force: true });
});

async function putOn(etcd: TestEtcd, key: string, value: string): Promise<void> {
  const client = new Etcd3({ hosts: etcd.endpoint });
  try {
    await client.put(key).value(value);
  } finally {
    client.close();
  }
}


function expectRefused(res: CliResult, variable: string, endpoints: TestEtcd[]): Promise<void> {
  expect(res.code, res.stderr).toBe(1);
  return (async () => {
    const named = await Promise.all(endpoints.map(async (e) => `${e.endpoint} (cluster ${(await etcdIdsOf(e)).cluster})`));
    expect(res.stderr).toContain(`${variable} name members of different etcd clusters: ${named.join(', ')}: give the client URLs of one cluster`);
  })();
}

describe('endpoints of two different clusters', () => {
  const two = () => `${a.endpoint},${b.endpoint}`;

  it('explore refuses, naming each endpoint and its cluster, rather than mixing their answers', async () => {
    const res = await runCli(['explore'], { RS_ETCD_ENDPOINTS: two() });
    await expectRefused(res, 'RS_ETCD_ENDPOINTS', [a, b]);
    expect(res.stdout).toBe('');
  });

  it('a snapshot backup refuses and stores nothing; the variable is named as given (ETCDCTL_ENDPOINTS)', async () => {
    const backupDir = join(dir, 'snapshots');
    const res = await runCli(['backup', '--strategy', 'snapshot'], { RS_ETCD_ENDPOINTS: two(), RS_BACKUP_DIR: backupDir });
    await expectRefused(res, 'RS_ETCD_ENDPOINTS', [a, b]);
    expect(await readdir(join(backupDir, 'default')).catch(() => [])).toEqual([]);
    const stats = await runCli(['stats'], { ETCDCTL_ENDPOINTS: two() });
    await expectRefused(stats, 'ETCDCTL_ENDPOINTS', [a, b]);
  });

  it('a key restore refuses and writes into neither', async () => {
    const res = await runCli(['restore', raw], { RS_ETCD_ENDPOINTS: two(), ...store() });
    await expectRefused(res, 'RS_ETCD_ENDPOINTS', [a, b]);
    expect(await a.ctl(['get', KEY, '--print-value-only'])).toBe('');
    expect(await b.ctl(['get', KEY, '--print-value-only'])).toBe('');
  });

  it('run recording changes does not go on with a stored chain: it records nothing and says why', async () => {
    const rec = join(dir, 'recorded');
    const base = await runCli(['backup', '--strategy', 'snapshot'], { RS_ETCD_ENDPOINTS: a.endpoint, RS_BACKUP_DIR: rec });
    expect(base.code, base.stderr).toBe(0);
    const stored = await readdir(join(rec, 'default'));
    let log = '';
    let child: ChildProcess | undefined;
    const running = runCli(['run'], { RS_ETCD_ENDPOINTS: two(), RS_BACKUP_DIR: rec, RS_HTTP_PORT: '0', RS_DELTA_INTERVAL: '1s' }, {
      timeoutMs: 60_000,
      onStart: (c) => {
        child = c;
        c.stderr!.on('data', (d: Buffer) => (log += d.toString()));
      },
    });
    try {
      for (const end = Date.now() + 20_000; !/cannot go on|recording changes/.test(log); ) {
        if (Date.now() > end) throw new Error(`run said nothing of its recording:\n${log}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      for (const e of [a, b]) await e.ctl(['put', '/registry/configmaps/shop/changed', 'while recording']);
      await new Promise((r) => setTimeout(r, 2_500));
    } finally {
      child?.kill('SIGTERM');
    }
    await running;
    expect(await readdir(join(rec, 'default'))).toEqual(stored);
    expect(log).toContain('cannot go on: RS_ETCD_ENDPOINTS name members of different etcd clusters');
  });

  // The check gives up on an endpoint that has not told its cluster a second after another did (a frozen member): its
  // cluster is not known, so the operation must not use it, even once it answers. Here it is another cluster's etcd
  // whose answers are held through the check, then let through: used, its pages would be mixed into the backup.
  it('an endpoint that told no cluster in time is not used once it answers: the backup is the other cluster\'s', async () => {
    const proxy = await startTcpProxy(portOf(b.endpoint));
    const prefix = '/registry/secrets/late';
    const big = 'x'.repeat(512 * 1024);
    for (let i = 0; i < 24; i++) await putOn(a, `${prefix}/a-${i}`, big);
    for (let i = 0; i < 24; i++) await putOn(b, `${prefix}/b-${i}`, big);
    proxy.holdReplies = true;
    try {
      const env = { RS_ETCD_ENDPOINTS: `${a.endpoint},http://${proxy.address}`, RS_BACKUP_DIR: join(dir, 'late'), RS_BACKUP_STRATEGY: 'raw', RS_KUBE_PREFIXES: prefix, RS_ETCD_API_VERSION: 'v3' };
      const res = await runCli(['backup', '--json'], env, {
        timeoutMs: 90_000,
        // Its answers flow again as soon as the check has given up on it, before the backup's first request.
        onStart: (c) => c.stderr!.on('data', (d: Buffer) => d.toString().includes('passing over') && (proxy.holdReplies = false)),
      });
      expect(res.code, res.stderr).toBe(0);
      expect(res.stderr).toContain(`passing over http://${proxy.address}: it did not answer within a second of the other members (frozen?); the others are used`);
      expect((JSON.parse(res.stdout) as { keys: number }).keys).toBe(24);
      const listed = await runCli(['inspect', (JSON.parse(res.stdout) as { id: string }).id, '--keys', '--json'], env);
      expect(listed.code, listed.stderr).toBe(0);
      expect(listed.stdout).toContain(`${prefix}/a-0`);
      expect(listed.stdout).not.toContain(`${prefix}/b-`);
    } finally {
      proxy.holdReplies = false;
      await proxy.close();
    }
  }, 120_000);

  it('an endpoint that is down is left out: the two that answer are still refused', async () => {
    const res = await runCli(['explore'], { RS_ETCD_ENDPOINTS: `${a.endpoint},${down},${b.endpoint}` });
    await expectRefused(res, 'RS_ETCD_ENDPOINTS', [a, b]);
  });
});

describe('endpoints of one cluster', () => {
  it('one etcd listed twice, or beside an endpoint that is down, explores, backs up and restores', async () => {
    for (const [endpoints, strategy] of [[`${a.endpoint},${a.endpoint}`, 'snapshot'], [`${a.endpoint},${down}`, 'raw']] as const) {
      const explore = await runCli(['explore'], { RS_ETCD_ENDPOINTS: endpoints });
      expect(explore.code, explore.stderr).toBe(0);
      const backup = await runCli(['backup', '--strategy', strategy], { RS_ETCD_ENDPOINTS: endpoints, RS_BACKUP_DIR: join(dir, 'twice') });
      expect(backup.code, backup.stderr).toBe(0);
    }
    const restore = await runCli(['restore', raw], { RS_ETCD_ENDPOINTS: `${a.endpoint},${a.endpoint}`, ...store() });
    expect(restore.code, restore.stderr).toBe(0);
    expect(await a.ctl(['get', KEY, '--print-value-only'])).toBe('from-source\n');
  });

  // Before: `ETCDCTL_ENDPOINTS="A, A"` (a shell's copy and paste) was taken without a word, and A dialled twice.
  it('one etcd listed twice is said once, naming it and the variable, and used once', async () => {
    const res = await runCli(['explore', '--json'], { ETCDCTL_ENDPOINTS: `${a.endpoint}, ${a.endpoint}` });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr.match(/etcd endpoint named more than once/g)).toHaveLength(1);
    expect(res.stderr).toContain(`ETCDCTL_ENDPOINTS names ${a.endpoint} more than once; it is used once (${a.endpoint})`);
    expect((JSON.parse(res.stdout) as { endpoints: string[] }).endpoints).toEqual([a.endpoint]);
  });

  it('a snapshot beside an endpoint that is down streams from the one that answers, every time', async () => {
    // The pool picks a member at random for the stream, which fails only once it runs: half of these failed before.
    const backupDir = join(dir, 'beside-down');
    for (let run = 0; run < 6; run++) {
      const backup = await runCli(['backup', '--strategy', 'snapshot'], { RS_ETCD_ENDPOINTS: `${down},${a.endpoint}`, RS_BACKUP_DIR: backupDir, RS_ETCD_TIMEOUT: '5s' });
      expect({ run, code: backup.code }, backup.stderr).toEqual({ run, code: 0 });
    }
    const verify = await runCli(['verify', 'latest'], { RS_BACKUP_DIR: backupDir });
    expect(verify.code, verify.stdout).toBe(0);
  });

  it('the members of a three-member cluster explore, back up and restore', async () => {
    const env = { RS_ETCD_ENDPOINTS: cluster.endpoints.join(','), RS_BACKUP_DIR: join(dir, 'cluster') };
    const explore = await runCli(['explore'], env);
    expect(explore.code, explore.stderr).toBe(0);
    expect(explore.stdout.match(/^ {2}\S+ m\d /gm)).toHaveLength(3);
    for (const strategy of ['snapshot', 'raw']) {
      const backup = await runCli(['backup', '--strategy', strategy], env);
      expect(backup.code, backup.stderr).toBe(0);
    }
    const restore = await runCli(['restore', raw], { ...env, ...store() });
    expect(restore.code, restore.stderr).toBe(0);
  });

  it('explore shows member ids as etcdctl member list does (hex), and --json as etcd gives them', async () => {
    const env = { RS_ETCD_ENDPOINTS: cluster.endpoints.join(',') };
    const text = await runCli(['explore'], env);
    expect(text.code, text.stderr).toBe(0);
    const shown = [...text.stdout.matchAll(/^ {2}([0-9a-f]+) m\d /gm)].map((m) => m[1]).sort();
    const listed = await new Promise<string>((resolve, reject) =>
      execFile('etcdctl', ['--endpoints', cluster.endpoints[0]!, 'member', 'list'], { env: { ...process.env, ETCDCTL_API: '3' } }, (err, out) => (err ? reject(err) : resolve(out))),
    );
    expect(shown).toEqual(listed.trim().split('\n').map((l) => l.split(',')[0]!).sort());
    const json = JSON.parse((await runCli(['explore', '--json'], env)).stdout) as { members: Array<{ id: string }> };
    expect(json.members.map((m) => BigInt(m.id).toString(16)).sort()).toEqual(shown);
  });

  // Last: it kills a member. Before, explore listed the dead member's endpoint like the others, without a word.
  it('explore says which configured endpoint does not answer (a member down), and explores the others', async () => {
    const dead = cluster.members[2]!;
    await dead.kill();
    const explore = await runCli(['explore'], { RS_ETCD_ENDPOINTS: cluster.endpoints.join(','), RS_ETCD_TIMEOUT: '5s' });
    expect(explore.code, explore.stderr).toBe(0);
    const port = new URL(dead.endpoint).port;
    expect(explore.stdout).toContain(`${dead.endpoint} (not answering)`);
    expect(explore.stdout).toContain(`  ${dead.endpoint}: asking for its status failed at ${dead.endpoint}: etcd is unreachable or went away: connect ECONNREFUSED 127.0.0.1:${port}`);
    expect(explore.stdout.match(/^ {2}\S+ m\d /gm)).toHaveLength(3);
    const json = JSON.parse((await runCli(['explore', '--json'], { RS_ETCD_ENDPOINTS: cluster.endpoints.join(',') })).stdout) as { unanswered?: Array<{ endpoint: string }> };
    expect(json.unanswered?.map((u) => u.endpoint)).toEqual([dead.endpoint]);
    // Those that answer say nothing of the kind.
    const alive = await runCli(['explore'], { RS_ETCD_ENDPOINTS: cluster.endpoints.slice(0, 2).join(',') });
    expect(alive.stdout).not.toContain('not answering');
  });
});
