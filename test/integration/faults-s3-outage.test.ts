import type { ChildProcess } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { bucketKeys, whileRunning } from '../helpers/faults.js';
import { expectOnlyJson, useS3Outage } from '../helpers/s3-outage.js';

/**
 * An S3 server that stops answering (paused: a network blackhole) or restarts in the middle of an upload. Every
 * request has a deadline (RS_S3_REQUEST_TIMEOUT) and is retried over a window (RS_S3_RETRY_WINDOW): a short outage is
 * ridden out, a lasting one fails the backup within the window, naming the cause; no partial object is ever listed.
 * Small values of both variables keep the test short. Outages of a download are in faults-s3-outage-download.
 */
describe('S3 outages during an upload', () => {
  const { servers, env, since } = useS3Outage();

  it('paused as parts flow, resumed seconds later: the backup completes and verifies', async () => {
    const n = servers.proxy.requests.length;
    const running = runCli(['backup', '--json'], env({ RS_S3_RETRY_WINDOW: '60s' }));
    await whileRunning(running, () => since(n, 'UploadPart').length > 0, 'the first part upload');
    servers.s3.pause();
    await new Promise((r) => setTimeout(r, 5000));
    servers.s3.resume();
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
    const before = await bucketKeys(servers.s3);
    const n = servers.proxy.requests.length;
    const running = runCli(['backup'], env({ RS_S3_RETRY_WINDOW: '4s' }), { timeoutMs: 120_000 });
    await whileRunning(running, () => since(n, 'UploadPart').length > 0, 'the first part upload');
    servers.s3.pause();
    const res = await running;
    expect(res.signal).toBeNull(); // ended by itself, not by the harness's timeout
    expect(res.stderr).toMatch(
      /reshifter: uploading s3:\/\/backups\/default\/.*\.snapshot\.db: the S3 server did not answer within 2s \(gave up after \d+ attempts over \d+(\.\d)?s; RS_S3_RETRY_WINDOW is 4s\)/,
    );
    expect(res.stderr).not.toMatch(/this is a bug/);
    expect(res.stderr).toMatch(/could not abort the failed multipart upload/);
    expect(res.code).toBe(1);
    expectOnlyJson(res);
    servers.s3.resume();
    expect(since(n, 'CompleteMultipartUpload')).toHaveLength(0);
    expect(await bucketKeys(servers.s3)).toEqual(before);
  });

  it("paused, then SIGTERM (a pod stopped): exit 1 within a pod's grace period, the abort of the upload bounded", async () => {
    const n = servers.proxy.requests.length;
    // The defaults of a real deployment: 30 s per request, a 60 s window. The harness kills the run at 25 s.
    let child: ChildProcess | undefined;
    const running = runCli(['backup'], env({ RS_S3_REQUEST_TIMEOUT: '30s', RS_S3_RETRY_WINDOW: '60s' }), { timeoutMs: 25_000, onStart: (c) => (child = c) });
    await whileRunning(running, () => since(n, 'UploadPart').length > 0, 'the first part upload');
    servers.s3.pause();
    await new Promise((r) => setTimeout(r, 1000));
    child!.kill('SIGTERM');
    const res = await running;
    expect(res.signal, res.stderr.slice(-2000)).toBeNull(); // ended by itself, not by the harness's timeout
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/could not abort the failed multipart upload/);
    expect(since(n, 'CompleteMultipartUpload')).toHaveLength(0);
  });

  it('down before the backup starts, then SIGTERM: exit 1 at once, not after the look-up of the newest id retried a window', async () => {
    const n = servers.proxy.requests.length;
    servers.s3.pause();
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
    const n = servers.proxy.requests.length;
    const running = runCli(['backup', '--json'], env({ RS_S3_RETRY_WINDOW: '60s' }));
    await whileRunning(running, () => since(n, 'UploadPart').length > 0, 'the first part upload');
    await servers.s3.kill();
    await new Promise((r) => setTimeout(r, 3000));
    await servers.s3.restart();
    const res = await running;
    expect(res.stderr).toMatch(/backup completed/);
    expect(res.code).toBe(0);
    expect(res.stderr).toMatch(/S3 request failed; retrying/);
    const id = (JSON.parse(res.stdout) as { id: string }).id;
    expect((await runCli(['verify', id], env())).code).toBe(0);
  });
});
