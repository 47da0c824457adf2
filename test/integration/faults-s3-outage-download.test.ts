import { beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../helpers/cli.js';
import { startEtcd } from '../helpers/etcd.js';
import { whileRunning } from '../helpers/faults.js';
import { expectOnlyJson, isJson, useS3Outage } from '../helpers/s3-outage.js';

/**
 * An S3 server that stops answering (paused: a network blackhole) in the middle of a download: a short outage is
 * ridden out by asking for the rest from where it stopped, a lasting one fails within RS_S3_RETRY_WINDOW naming the
 * broken download, and a read that lasts is reported as it goes. Outages of an upload are in faults-s3-outage.
 */
describe('S3 outages during a download', () => {
  // A ~20 MiB snapshot: the proxy holds the download after its first MiB, whatever the artifact's size.
  const { servers, env, since } = useS3Outage(40);
  /** One uncompressed snapshot backup, read by every test: none of them changes it. */
  let backup: { id: string; artifact: string; sizeBytes: number };
  beforeAll(async () => {
    const res = await runCli(['backup', '--json'], env());
    expect(res.code, res.stderr).toBe(0);
    backup = JSON.parse(res.stdout) as typeof backup;
  });
  /** Runs `verify id` (or `args`) and pauses S3 once the artifact's body has begun to flow. */
  const verifyWhilePaused = async (id: string, artifact: string, extra: Record<string, string>, args = ['verify', id]) => {
    // Paused from the proxy's relay as the first MiB of the body passes (not by polling, which under load can see
    // the download only after it has finished), and the proxy relays no more of that response: what the sockets had
    // buffered from the server before it stopped would otherwise finish a small artifact's download.
    let paused = false;
    servers.proxy.onResponseBytes = (r, relayed) => {
      if (r.op !== 'GetObject' || !r.url.includes(artifact) || relayed < 1 << 20) return undefined;
      if (!paused) servers.s3.pause();
      paused = true;
      return 'hold';
    };
    const running = runCli(args, env(extra), { timeoutMs: 120_000 });
    await whileRunning(running, () => paused, 'the artifact download');
    servers.proxy.onResponseBytes = undefined;
    return running;
  };

  /** The `progress` log lines of `what`: reported every 5 s while a long read lasts. */
  const progressOf = (res: CliResult, what: string) =>
    res.stderr.split('\n').filter(isJson).map((l) => JSON.parse(l) as { msg: string; what?: string; bytes: number; total?: number }).filter((l) => l.msg === 'progress' && l.what === what);

  it('paused mid-download, resumed seconds later: the download resumes where it stopped and verify passes', async () => {
    const { id, artifact, sizeBytes } = backup;
    const n = servers.proxy.requests.length;
    const running = verifyWhilePaused(id, artifact, { RS_S3_RETRY_WINDOW: '60s' });
    await new Promise((r) => setTimeout(r, 6000));
    servers.s3.resume();
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
    const { id, artifact } = backup;
    const target = await startEtcd();
    try {
      const running = verifyWhilePaused(id, artifact, { RS_S3_RETRY_WINDOW: '60s', RS_ETCD_ENDPOINTS: target.endpoint }, ['restore', id, '--keys']);
      // Longer than the 5 s between progress lines, with room for a loaded machine.
      await new Promise((r) => setTimeout(r, 8000));
      servers.s3.resume();
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
    const { id, artifact } = backup;
    const res = await verifyWhilePaused(id, artifact, { RS_S3_RETRY_WINDOW: '4s' });
    expect(res.signal).toBeNull(); // ended by itself, not by the harness's timeout
    expect(res.stderr).toMatch(/the download broke off after \d+ bytes .* and did not resume within 4s \(RS_S3_RETRY_WINDOW\)/);
    expect(res.stderr).not.toMatch(/this is a bug/);
    expect(res.code).toBe(1);
  });
});
