import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import { dumpDigests } from '../helpers/big-values.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { bucketKeys, listFiles, loadBigValues, portOf, whileRunning } from '../helpers/faults.js';
import { startS3Proxy, type S3Proxy } from '../helpers/s3-proxy.js';
import { startS3, type TestS3 } from '../helpers/s3.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { freePort } from '../helpers/ports.js';

const MiB = 1024 * 1024;

/**
 * etcd killed (SIGKILL) in the middle of a snapshot and of a key dump: exit 1, nothing listed, no partial file or
 * object, retention not run, earlier backups intact. A throttling proxy in front of etcd makes the kill land
 * mid-transfer every time.
 */
describe('etcd dies during a backup', () => {
  let etcd: TestEtcd;
  let proxy: TcpProxy;
  let s3: TestS3;
  let s3proxy: S3Proxy;
  let dir: string;
  let dataDir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rs-fault-etcd-'));
    dataDir = join(dir, 'etcd-data');
    [etcd, s3] = await Promise.all([startEtcd({ dataDir }), startS3()]);
    // 24 MiB of incompressible values in 1000 keys: a key dump reads them in several pages.
    await loadBigValues(etcd.endpoint, 1000, 24 * 1024);
    proxy = await startTcpProxy(portOf(etcd.endpoint));
    s3proxy = await startS3Proxy(s3.endpoint);
  });
  afterAll(async () => {
    await proxy?.close();
    await s3proxy?.close();
    await Promise.all([etcd?.stop(), s3?.stop()]);
    await rm(dir, { recursive: true, force: true });
  });

  /** Starts etcd again on its data, behind the same proxy. */
  const restartEtcd = async () => {
    etcd = await startEtcd({ dataDir });
    proxy.retarget(portOf(etcd.endpoint));
  };

  const base = { RS_RETENTION_KEEP_LAST: '1', RS_COMPRESSION: 'none', RS_ETCD_TIMEOUT: '5s', RS_KUBE_PREFIXES: '/registry' };
  const envFor = (store: Record<string, string>) => ({ ...base, RS_ETCD_ENDPOINTS: `http://${proxy.address}`, ...store });

  const expectEtcdFailure = (res: CliResult) => {
    expect(res.stderr).toMatch(/reshifter: .*(streaming the snapshot|reading).* failed at .*etcd is unreachable or went away/);
    expect(res.code).toBe(1);
    expect(res.stderr).not.toMatch(/retention applied|backup deleted by retention/);
  };

  it('snapshot into a local directory: exit 1, no temp file, the earlier backup intact', async () => {
    const store = { RS_BACKUP_DIR: join(dir, 'local') };
    proxy.rate = 0;
    const first = await runCli(['backup', '--json'], envFor(store));
    expect(first.code).toBe(0);
    const earlier = JSON.parse(first.stdout) as { id: string };
    const filesBefore = await listFiles(join(dir, 'local'));

    proxy.rate = 8 * MiB;
    const start = proxy.bytesDown;
    const running = runCli(['backup'], envFor(store));
    await whileRunning(running, () => proxy.bytesDown > start + 3 * MiB, '3 MiB of the snapshot');
    await etcd.kill();
    const res = await running;
    expectEtcdFailure(res);
    expect(proxy.bytesDown - start).toBeLessThan(20 * MiB); // of a snapshot of more than 24 MiB

    expect(await listFiles(join(dir, 'local'))).toEqual(filesBefore);
    const list = await runCli(['list', '--json'], envFor(store));
    expect((JSON.parse(list.stdout) as Array<{ id: string }>).map((b) => b.id)).toEqual([earlier.id]);
    expect((await runCli(['verify', earlier.id], envFor(store))).code).toBe(0);
    await restartEtcd();
  });

  it('key dump into S3: exit 1, multipart upload aborted, nothing listed, the earlier backup intact', async () => {
    const store = { ...s3.env, RS_S3_ENDPOINT: s3proxy.endpoint, RS_BACKUP_STRATEGY: 'raw' };
    proxy.rate = 0;
    const first = await runCli(['backup', '--json'], envFor(store));
    expect(first.stderr).toMatch(/backup completed/);
    expect(first.code).toBe(0);
    const earlier = JSON.parse(first.stdout) as { id: string; artifact: string };
    const keysBefore = await bucketKeys(s3);
    expect(keysBefore).toEqual([`default/${earlier.artifact}`, `default/${earlier.id}.manifest.json`].sort());

    proxy.rate = 8 * MiB;
    const seen = s3proxy.requests.length;
    // The dump's reads of the dead etcd are retried for RS_ETCD_TIMEOUT: 3 s, as the pause below, not the file's 5 s.
    const running = runCli(['backup'], { ...envFor(store), RS_ETCD_TIMEOUT: '3s' });
    // Kill etcd once the artifact's multipart upload has started (its first 8 MiB part is on the way).
    const start = proxy.bytesDown;
    await whileRunning(running, () => s3proxy.requests.slice(seen).some((r) => r.op === 'UploadPart'), 'the first part upload');
    await etcd.kill();
    const res = await running;
    expectEtcdFailure(res);
    // The kill came mid-dump: well short of the 24 MiB of values had reached reshifter.
    expect(proxy.bytesDown - start).toBeLessThan(20 * MiB);

    const during = s3proxy.requests.slice(seen);
    const created = during.filter((r) => r.op === 'CreateMultipartUpload');
    expect(created).toHaveLength(1);
    expect(during.filter((r) => r.op === 'CompleteMultipartUpload')).toHaveLength(0);
    // The upload was aborted (s3rver itself does not implement AbortMultipartUpload; real S3 and MinIO do).
    expect(during.filter((r) => r.op === 'AbortMultipartUpload').length).toBeGreaterThanOrEqual(1);
    // Retention did not run: nothing was deleted.
    expect(during.filter((r) => r.op === 'DeleteObject')).toHaveLength(0);
    expect(await bucketKeys(s3)).toEqual(keysBefore);
    await restartEtcd();
    proxy.rate = 0;
    expect((await runCli(['verify', earlier.id], envFor(store))).code).toBe(0);
  });

  /** The records of a stored raw dump (uncompressed), with its revision. */
  const dumpOf = (storeDir: string, m: Manifest) => dumpDigests(join(storeDir, 'default', m.artifact));

  it('a connection cut mid-dump: the dump resumes at its revision and is complete', async () => {
    const storeDir = join(dir, 'cut');
    // Both dumps are kept (the file's default keeps one).
    const env = envFor({ RS_BACKUP_DIR: storeDir, RS_BACKUP_STRATEGY: 'raw', RS_RETENTION_KEEP_LAST: '2' });
    proxy.rate = 0;
    const reference = await runCli(['backup', '--json'], env);
    expect(reference.code, reference.stderr).toBe(0);
    const refManifest = JSON.parse(reference.stdout) as Manifest;

    proxy.rate = 8 * MiB;
    const start = proxy.bytesDown;
    const connections = proxy.connections;
    const running = runCli(['backup', '--json'], env);
    await whileRunning(running, () => proxy.bytesDown > start + 6 * MiB, '6 MiB of the dump');
    proxy.cut();
    const res = await running;
    proxy.rate = 0;
    expect(res.code, res.stderr).toBe(0);
    // The cut was mid-dump, and the client connected again to finish it.
    expect(proxy.connections).toBeGreaterThan(connections + 1);
    const m = JSON.parse(res.stdout) as Manifest;
    expect(m.etcd!.revision).toBe(refManifest.etcd!.revision);
    expect(m.keys).toBe(refManifest.keys);
    const [a, b] = [await dumpOf(storeDir, refManifest), await dumpOf(storeDir, m)];
    expect(b.revision).toBe(a.revision);
    expect(b.values.size).toBe(1000);
    expect(b.records).toBe(a.records);
  });

  it('etcd paused mid-dump: fails within about RS_ETCD_TIMEOUT, saying so, and leaves nothing', async () => {
    const storeDir = join(dir, 'paused');
    const env = envFor({ RS_BACKUP_DIR: storeDir, RS_BACKUP_STRATEGY: 'raw', RS_ETCD_TIMEOUT: '3s' });
    proxy.rate = 4 * MiB;
    const start = proxy.bytesDown;
    const running = runCli(['backup'], env);
    await whileRunning(running, () => proxy.bytesDown > start + 3 * MiB, '3 MiB of the dump');
    etcd.process.kill('SIGSTOP');
    const pausedAt = Date.now();
    try {
      const res = await running;
      const waited = Date.now() - pausedAt;
      expect(res.code).toBe(1);
      expect(res.stderr).toMatch(/reshifter: reading keys at revision \d+ failed at .*: etcd did not answer within 3 s \(RS_ETCD_TIMEOUT/);
      expect(res.stderr).not.toMatch(/circuit breaker|this is a bug/);
      // Not a speed check: the old client gave each of its three attempts a deadline of its own (3 x 3 s and more);
      // under 4 x the timeout proves one deadline for the whole call, retries included, with room for a busy machine.
      expect(waited).toBeLessThan(12_000);
    } finally {
      etcd.process.kill('SIGCONT');
      proxy.rate = 0;
    }
    expect(await listFiles(storeDir)).toEqual([]);
    const list = await runCli(['list', '--json'], env);
    expect(JSON.parse(list.stdout)).toEqual([]);
  });

  it('etcd frozen before a backup that chooses its strategy: waited for RS_ETCD_TIMEOUT once, by the status check, and no probe follows', async () => {
    const env: Record<string, string> = envFor({ RS_BACKUP_DIR: join(dir, 'frozen-auto'), RS_ETCD_TIMEOUT: '2s' });
    delete env.RS_BACKUP_STRATEGY;
    etcd.process.kill('SIGSTOP');
    let res: CliResult;
    try {
      res = await runCli(['backup'], env);
    } finally {
      etcd.process.kill('SIGCONT');
    }
    expect(res.code, res.stderr).toBe(1);
    // The status check waited RS_ETCD_TIMEOUT and said so; neither the version probe (GET /version) nor the snapshot
    // waited for the frozen etcd once more.
    expect(res.stderr).not.toMatch(/GET \/version|backup started/);
    expect(res.stderr.trimEnd().split('\n').at(-1)).toMatch(/^reshifter: asking etcd for its status failed at .*: etcd did not answer within 2(\.\d)? s \(RS_ETCD_TIMEOUT, 2 s/);
  });

  it('etcd unreachable: the retrying is said at once, not after RS_ETCD_TIMEOUT of silence', async () => {
    const nobody = `http://127.0.0.1:${await freePort()}`;
    // Both at once: each waits out RS_ETCD_TIMEOUT.
    const runs = [['backup'], ['explore']].map((args) => runCli(args, { RS_ETCD_ENDPOINTS: nobody, RS_BACKUP_DIR: join(dir, 'unreachable'), RS_ETCD_TIMEOUT: '3s' }));
    for (const [i, res] of (await Promise.all(runs)).entries()) {
      expect(res.code, res.stderr).toBe(1);
      const lines = res.stderr.split('\n');
      // The failure is a JSON event too, with the command and exit code (before: only the text line, no level).
      const failed = lines.flatMap((l) => (l.startsWith('{') ? [JSON.parse(l) as Record<string, unknown>] : [])).find((e) => e.msg === 'command failed');
      expect(failed, res.stderr).toMatchObject({ level: 'error', command: ['backup', 'explore'][i], exitCode: 1, err: expect.stringMatching(/unreachable or went away: connect ECONNREFUSED/) });
      const waiting = lines.findIndex((l) => l.includes('"msg":"etcd does not answer: retrying until RS_ETCD_TIMEOUT"'));
      expect(waiting, res.stderr).toBeGreaterThanOrEqual(0);
      expect(lines[waiting]).toMatch(/"err":"[^"]*ECONNREFUSED[^"]*".*"timeoutMs":3000/);
      // Said once per call, before the failure.
      expect(lines.filter((l) => l.includes('etcd does not answer'))).toHaveLength(1);
      expect(lines.findIndex((l) => l.startsWith('reshifter: '))).toBeGreaterThan(waiting);
    }
  });
});
