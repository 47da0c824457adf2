import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { startEtcdCluster, type TestCluster } from '../helpers/etcd-cluster.js';
import { startEtcd } from '../helpers/etcd.js';
import { bucketKeys, listFiles, loadBigValues, portOf, whileRunning } from '../helpers/faults.js';
import { keyspace, values } from '../helpers/keyspace.js';
import { startS3Proxy, type S3Proxy } from '../helpers/s3-proxy.js';
import { startS3, type TestS3 } from '../helpers/s3.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const ctlEnv = { env: { ...process.env, ETCDCTL_API: '3' }, maxBuffer: 256 * MiB };

/**
 * A three-member etcd whose member dies or restarts while its snapshot streams (a node reboot during the nightly
 * backup, a rolling upgrade): the snapshot is taken again, from the start, of another current member, once per member;
 * nothing of the broken stream is stored. Each member is reached through a throttled proxy, so that a stream can be
 * cut (or its member killed) mid-way. Before: exit 1, no backup, although two members were healthy.
 */
describe('a snapshot stream that breaks mid-way', () => {
  let cluster: TestCluster;
  let proxies: TcpProxy[];
  let s3: TestS3;
  let s3proxy: S3Proxy;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rs-member-failover-'));
    cluster = await startEtcdCluster(3);
    await loadBigValues(cluster.endpoints[0]!, 24); // a 12 MiB snapshot: about 1.5 s at 8 MiB/s
    proxies = await Promise.all(cluster.endpoints.map((e) => startTcpProxy(portOf(e), { rate: 8 * MiB })));
    s3 = await startS3();
    s3proxy = await startS3Proxy(s3.endpoint);
  }, 120_000);
  afterAll(async () => {
    for (const p of proxies ?? []) await p.close();
    await s3proxy?.close();
    await s3?.stop();
    await cluster?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const endpoints = () => proxies.map((p) => `http://${p.address}`).join(',');
  /** The index of the proxy that has passed on most since `base` (the one a snapshot streams through). */
  const streaming = (base: number[]) => proxies.map((p, i) => p.bytesDown - base[i]!).reduce((best, n, i, all) => (n > all[best]! ? i : best), 0);
  const bytesNow = () => proxies.map((p) => p.bytesDown);

  /** The stored snapshot written out as a file, checked by etcdctl, restored and started: its keys and revision. */
  async function restored(env: Record<string, string>, m: Manifest, name: string): Promise<{ revision: number; keys: Map<string, string> }> {
    const file = join(dir, `${name}.db`);
    const res = await runCli(['restore', m.id, '--snapshot-file', file], env);
    expect(res.code, res.stderr).toBe(0);
    // What was counted is the stored snapshot alone, not the broken attempt's bytes too.
    expect((await stat(file)).size).toBe(m.rawSizeBytes);
    const status = JSON.parse((await run('etcdctl', ['snapshot', 'status', file, '-w', 'json'], ctlEnv)).stdout) as { revision: number };
    const dataDir = join(dir, `${name}-data`);
    const member = ['--name', 'r', '--initial-cluster', 'r=http://127.0.0.1:2380', '--initial-advertise-peer-urls', 'http://127.0.0.1:2380'];
    await run('etcdctl', ['snapshot', 'restore', file, '--data-dir', dataDir, ...member], ctlEnv);
    const etcd = await startEtcd({ dataDir });
    try {
      return { revision: status.revision, keys: values(await keyspace(etcd, ['/registry'])) };
    } finally {
      await etcd.stop();
    }
  }

  /** Every key of the live cluster under /registry, as keyspace() gives them. */
  async function liveKeys(): Promise<Map<string, string>> {
    const etcd = { ctl: async (args: string[]) => (await run('etcdctl', ['--endpoints', cluster.endpoints.join(','), ...args], ctlEnv)).stdout };
    return values(await keyspace(etcd as never, ['/registry']));
  }

  /** A write through a member other than `not`: the revision it made. */
  async function write(key: string, not: number): Promise<number> {
    const client = new Etcd3({ hosts: cluster.endpoints[(not + 1) % 3]! });
    try {
      return Number((await client.put(key).value('v')).header.revision);
    } finally {
      client.close();
    }
  }

  const logMessages = (res: CliResult) => res.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => (JSON.parse(l) as { msg: string }).msg);

  it('every member breaking mid-way: exit 1, each named, nothing stored', async () => {
    const store = join(dir, 'all-broken');
    const running = runCli(['backup'], { RS_ETCD_ENDPOINTS: endpoints(), RS_BACKUP_DIR: store });
    const cut = new Set<number>();
    const base = bytesNow();
    const timer = setInterval(() => {
      for (const [i, p] of proxies.entries()) if (!cut.has(i) && p.bytesDown - base[i]! > MiB) (cut.add(i), p.cut());
    }, 10);
    const res = await running.finally(() => clearInterval(timer));
    expect(res.code, res.stderr).toBe(1);
    expect(cut.size).toBe(3);
    const failed = /"err":"(the snapshot stream broke mid-way on every member of RS_ETCD_ENDPOINTS: [^"]*)"/.exec(res.stderr)?.[1];
    expect(failed, res.stderr).toBeDefined();
    for (const p of proxies) expect(failed).toContain(`http://${p.address} (`);
    expect(logMessages(res).filter((m) => /^the snapshot stream of .* broke mid-way: taking the snapshot again/.test(m))).toHaveLength(2);
    expect(await listFiles(store)).toEqual([]);
  }, 60_000);

  it('into S3: the broken upload aborted, the snapshot of another member stored whole, with its revision, and it restores', async () => {
    const env = { ...s3.env, RS_S3_ENDPOINT: s3proxy.endpoint, RS_ETCD_ENDPOINTS: endpoints() };
    const seen = s3proxy.requests.length;
    const base = bytesNow();
    const running = runCli(['backup', '--json'], env);
    // Cut the member's stream once the artifact's multipart upload has a part on the way, and write a key meanwhile.
    await whileRunning(running, () => s3proxy.requests.slice(seen).some((r) => r.op === 'UploadPart'), 'the first part upload');
    const broken = streaming(base);
    const written = await write('/registry/configmaps/default/during-s3', broken);
    proxies[broken]!.cut();
    const res = await running;
    expect(res.code, res.stderr).toBe(0);
    const m = JSON.parse(res.stdout) as Manifest;
    const msgs = logMessages(res);
    const brokenAt = `http://${proxies[broken]!.address}`;
    expect(msgs).toContain(`the snapshot stream of ${brokenAt} broke mid-way: taking the snapshot again, from the start, of another member`);
    const taken = msgs.filter((x) => x.startsWith('taking the snapshot of '));
    expect(taken).toHaveLength(2);
    expect(taken[0]).toBe(`taking the snapshot of ${brokenAt}`);
    expect(taken[1]).not.toBe(`taking the snapshot of ${brokenAt}`);

    const during = s3proxy.requests.slice(seen);
    expect(during.filter((r) => r.op === 'CreateMultipartUpload')).toHaveLength(2);
    expect(during.filter((r) => r.op === 'AbortMultipartUpload').length).toBeGreaterThanOrEqual(1);
    expect(during.filter((r) => r.op === 'CompleteMultipartUpload')).toHaveLength(1);
    expect(await bucketKeys(s3)).toEqual([`default/${m.artifact}`, `default/${m.id}.manifest.json`].sort());
    // The revision recorded is the stored snapshot's, taken after the key was written.
    expect(m.etcd!.revision).toBeGreaterThanOrEqual(written);
    const got = await restored(env, m, 's3');
    expect(got.revision).toBe(m.etcd!.revision);
    expect(got.keys).toEqual(await liveKeys());
  }, 90_000);

  it('a member killed mid-stream, to a local store: the temporary file gone, the other member snapshot stored, it restores', async () => {
    const store = join(dir, 'killed');
    const env = { RS_ETCD_ENDPOINTS: endpoints(), RS_BACKUP_DIR: store };
    const base = bytesNow();
    const running = runCli(['backup', '--json'], env);
    await whileRunning(running, () => proxies.some((p, i) => p.bytesDown - base[i]! > 2 * MiB), '2 MiB of the snapshot');
    const killed = streaming(base);
    const written = await write('/registry/configmaps/default/during-local', killed);
    await cluster.members[killed]!.kill();
    const res = await running;
    expect(res.code, res.stderr).toBe(0);
    const m = JSON.parse(res.stdout) as Manifest;
    const msgs = logMessages(res);
    expect(msgs).toContain(`the snapshot stream of http://${proxies[killed]!.address} broke mid-way: taking the snapshot again, from the start, of another member`);
    expect(msgs.filter((x) => x.startsWith('taking the snapshot of '))).toHaveLength(2);
    expect(await listFiles(store)).toEqual([`default/${m.artifact}`, `default/${m.id}.manifest.json`].sort());
    expect(m.etcd!.revision).toBeGreaterThanOrEqual(written);
    const got = await restored(env, m, 'local');
    expect(got.revision).toBe(m.etcd!.revision);
    expect(got.keys).toEqual(await liveKeys());
  }, 90_000);
});
