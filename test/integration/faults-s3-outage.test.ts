import type { ChildProcess } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { bucketKeys, loadBigValues, whileRunning } from '../helpers/faults.js';
import { startS3Proxy, type S3Proxy } from '../helpers/s3-proxy.js';
import { startS3, type TestS3 } from '../helpers/s3.js';

/**
 * An S3 server that stops answering (paused: a network blackhole) or restarts in the middle of an upload. Every
 * request has a deadline (RS_S3_REQUEST_TIMEOUT) and is retried over a window (RS_S3_RETRY_WINDOW): a short outage is
 * ridden out, a lasting one fails the backup within the window, naming the cause; no partial object is ever listed.
 * Small values of both variables keep the test short. A recording proxy in front of s3rver shows when parts flow.
 */
describe('S3 outages', () => {
  let etcd: TestEtcd;
  let s3: TestS3;
  let proxy: S3Proxy;

  beforeAll(async () => {
    [etcd, s3] = await Promise.all([startEtcd(), startS3()]);
    await loadBigValues(etcd.endpoint, 120); // a ~60 MiB snapshot: 8 parts
    proxy = await startS3Proxy(s3.endpoint);
  });
  afterEach(async () => {
    // Whatever a test did to the server, the next one starts with it running.
    s3.resume();
    if (s3.process.exitCode !== null || s3.process.signalCode !== null) await s3.restart();
  });
  afterAll(async () => {
    await proxy?.close();
    await Promise.all([etcd?.stop(), s3?.stop()]);
  });

  const env = (extra: Record<string, string> = {}) => ({
    ...s3.env, RS_S3_ENDPOINT: proxy.endpoint, RS_ETCD_ENDPOINTS: etcd.endpoint, RS_COMPRESSION: 'none', RS_S3_REQUEST_TIMEOUT: '2s', ...extra,
  });
  const since = (n: number, op: string) => proxy.requests.slice(n).filter((r) => r.op === op);
  /** Every stderr line is a JSON log line (the SDK prints nothing of its own), apart from the final message. */
  const expectOnlyJson = (res: CliResult) => {
    const bad = res.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('reshifter: ') && !isJson(l));
    expect(bad).toEqual([]);
  };

  it('paused as parts flow, resumed seconds later: the backup completes and verifies', async () => {
    const n = proxy.requests.length;
    const running = runCli(['backup', '--json'], env({ RS_S3_RETRY_WINDOW: '60s' }));
    await whileRunning(running, () => since(n, 'UploadPart').length > 0, 'the first part upload');
    s3.pause();
    await new Promise((r) => setTimeout(r, 5000));
    s3.resume();
    const res = await running;
    expect(res.stderr).toMatch(/backup completed/);
    expect(res.code).toBe(0);
    expect(res.stderr).toMatch(/S3 request failed; retrying/);
    expectOnlyJson(res);
    const id = (JSON.parse(res.stdout) as { id: string }).id;
    const verify = await runCli(['verify', id], env());
    expect(verify.stdout).toMatch(/ok/i);
    expect(verify.code).toBe(0);
  });

  it('paused and never resumed: exit 1 within the window naming the cause, nothing listed', async () => {
    const before = await bucketKeys(s3);
    const n = proxy.requests.length;
    const running = runCli(['backup'], env({ RS_S3_RETRY_WINDOW: '4s' }), { timeoutMs: 120_000 });
    await whileRunning(running, () => since(n, 'UploadPart').length > 0, 'the first part upload');
    s3.pause();
    const res = await running;
    expect(res.signal).toBeNull(); // ended by itself, not by the harness's timeout
    expect(res.stderr).toMatch(
      /reshifter: uploading s3:\/\/backups\/default\/.*\.snapshot\.db: the S3 server did not answer within 2s \(gave up after \d+ attempts over \d+(\.\d)?s; RS_S3_RETRY_WINDOW is 4s\)/,
    );
    expect(res.stderr).not.toMatch(/this is a bug/);
    expect(res.stderr).toMatch(/could not abort the failed multipart upload/);
    expect(res.code).toBe(1);
    expectOnlyJson(res);
    s3.resume();
    expect(since(n, 'CompleteMultipartUpload')).toHaveLength(0);
    expect(await bucketKeys(s3)).toEqual(before);
  });

  it("paused, then SIGTERM (a pod stopped): exit 1 within a pod's grace period, the abort of the upload bounded", async () => {
    const n = proxy.requests.length;
    // The defaults of a real deployment: 30 s per request, a 60 s window. The harness kills the run at 25 s.
    let child: ChildProcess | undefined;
    const running = runCli(['backup'], env({ RS_S3_REQUEST_TIMEOUT: '30s', RS_S3_RETRY_WINDOW: '60s' }), { timeoutMs: 25_000, onStart: (c) => (child = c) });
    await whileRunning(running, () => since(n, 'UploadPart').length > 0, 'the first part upload');
    s3.pause();
    await new Promise((r) => setTimeout(r, 1000));
    child!.kill('SIGTERM');
    const res = await running;
    expect(res.signal, res.stderr.slice(-2000)).toBeNull(); // ended by itself, not by the harness's timeout
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/could not abort the failed multipart upload/);
    expect(since(n, 'CompleteMultipartUpload')).toHaveLength(0);
  });

  it('down before the backup starts, then SIGTERM: exit 1 at once, not after the look-up of the newest id retried a window', async () => {
    const n = proxy.requests.length;
    s3.pause();
    let child: ChildProcess | undefined;
    const running = runCli(['backup'], env({ RS_S3_REQUEST_TIMEOUT: '30s', RS_S3_RETRY_WINDOW: '60s' }), { timeoutMs: 25_000, onStart: (c) => (child = c) });
    // The first request of a backup lists the names after this clock's id (the newest id, for the new one's order).
    await whileRunning(running, () => since(n, 'ListObjects').length > 0, 'the look-up of the newest id');
    await new Promise((r) => setTimeout(r, 1000));
    child!.kill('SIGTERM');
    const res = await running;
    expect(res.signal, res.stderr.slice(-2000)).toBeNull(); // ended by itself, not by the harness's timeout
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/reshifter: backup interrupted before it started/);
    expect(res.stderr).not.toMatch(/could not list the backups/);
    expect(since(n, 'CreateMultipartUpload')).toHaveLength(0);
  });

  it('killed mid-upload and restarted seconds later: the backup survives and verifies', async () => {
    const n = proxy.requests.length;
    const running = runCli(['backup', '--json'], env({ RS_S3_RETRY_WINDOW: '60s' }));
    await whileRunning(running, () => since(n, 'UploadPart').length > 0, 'the first part upload');
    await s3.kill();
    await new Promise((r) => setTimeout(r, 3000));
    await s3.restart();
    const res = await running;
    expect(res.stderr).toMatch(/backup completed/);
    expect(res.code).toBe(0);
    expect(res.stderr).toMatch(/S3 request failed; retrying/);
    const id = (JSON.parse(res.stdout) as { id: string }).id;
    expect((await runCli(['verify', id], env())).code).toBe(0);
  });

  /** Takes one uncompressed snapshot backup (8 parts) and returns its id. */
  const oneBackup = async () => {
    const res = await runCli(['backup', '--json'], env());
    expect(res.code).toBe(0);
    return (JSON.parse(res.stdout) as { id: string; artifact: string; sizeBytes: number });
  };
  /** Runs `verify id` (or `args`) and pauses S3 once the artifact's body has begun to flow. */
  const verifyWhilePaused = async (id: string, artifact: string, extra: Record<string, string>, args = ['verify', id]) => {
    // Paused from the proxy's relay as the first MiB of the body passes (not by polling, which under load can see
    // the download only after it has finished), and the proxy relays no more of that response: what the sockets had
    // buffered from the server before it stopped would otherwise finish a small artifact's download.
    let paused = false;
    proxy.onResponseBytes = (r, relayed) => {
      if (r.op !== 'GetObject' || !r.url.includes(artifact) || relayed < 1 << 20) return undefined;
      if (!paused) s3.pause();
      paused = true;
      return 'hold';
    };
    const running = runCli(args, env(extra), { timeoutMs: 120_000 });
    await whileRunning(running, () => paused, 'the artifact download');
    proxy.onResponseBytes = undefined;
    return running;
  };

  /** The `progress` log lines of `what`: reported every 5 s while a long read lasts. */
  const progressOf = (res: CliResult, what: string) =>
    res.stderr.split('\n').filter(isJson).map((l) => JSON.parse(l) as { msg: string; what?: string; bytes: number; total?: number }).filter((l) => l.msg === 'progress' && l.what === what);

  it('paused mid-download, resumed seconds later: the download resumes where it stopped and verify passes', async () => {
    const { id, artifact, sizeBytes } = await oneBackup();
    const n = proxy.requests.length;
    const running = verifyWhilePaused(id, artifact, { RS_S3_RETRY_WINDOW: '60s' });
    await new Promise((r) => setTimeout(r, 6000));
    s3.resume();
    const res = await running;
    expect(res.stderr).toMatch(/S3 download broke off; resuming/);
    expect(res.code).toBe(0);
    // The read that lasted was reported as it went, of the artifact's stored size.
    const progress = progressOf(res, 'verify');
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.every((p) => p.total === sizeBytes && p.bytes > 0 && p.bytes < sizeBytes), JSON.stringify(progress)).toBe(true);
    // The rest was asked for from where it stopped, not from the start.
    const ranged = since(n, 'GetObject').filter((r) => r.url.includes(artifact) && typeof r.headers.range === 'string');
    expect(ranged.length).toBeGreaterThan(0);
    expect(ranged.every((r) => /^bytes=[1-9]\d*-$/.test(r.headers.range as string))).toBe(true);
    expectOnlyJson(res);
  });

  it('a restore paused mid-download reports the download as it lasts, then restores', async () => {
    const { id, artifact } = await oneBackup();
    const target = await startEtcd();
    try {
      const running = verifyWhilePaused(id, artifact, { RS_S3_RETRY_WINDOW: '60s', RS_ETCD_ENDPOINTS: target.endpoint }, ['restore', id, '--keys']);
      // Longer than the 5 s between progress lines, with room for a loaded machine.
      await new Promise((r) => setTimeout(r, 8000));
      s3.resume();
      const res = await running;
      expect(res.code, res.stderr.slice(-2000)).toBe(0);
      const progress = progressOf(res, 'download');
      expect(progress.length, res.stderr.slice(-3000)).toBeGreaterThan(0);
      expect(progress[0]!.bytes).toBeGreaterThan(0);
      expect(progress[0]!.total).toBeGreaterThan(progress[0]!.bytes);
    } finally {
      await target.stop();
    }
  });

  it('paused mid-download and never resumed: verify fails within the window naming the broken download', async () => {
    const { id, artifact } = await oneBackup();
    const res = await verifyWhilePaused(id, artifact, { RS_S3_RETRY_WINDOW: '4s' });
    expect(res.signal).toBeNull(); // ended by itself, not by the harness's timeout
    expect(res.stderr).toMatch(/the download broke off after \d+ bytes .* and did not resume within 4s \(RS_S3_RETRY_WINDOW\)/);
    expect(res.stderr).not.toMatch(/this is a bug/);
    expect(res.code).toBe(1);
  });
});

function isJson(line: string): boolean {
  try {
    JSON.parse(line);
    return true;
  } catch {
    return false;
  }
}
