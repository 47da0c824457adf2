import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRun } from '../helpers/background-run.js';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { listFiles, loadBigValues, portOf } from '../helpers/faults.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

/**
 * RS_ETCD_ENDPOINTS naming a member of the cluster meant (A) and a live member of another cluster (B) that answers
 * slower than a second: the one-cluster check passes B over as frozen rather than refusing it, since it had not told
 * its cluster yet. Before, B stayed among the endpoints the operation used: once A's snapshot stream broke mid-way,
 * the snapshot was taken again "of another member", B, and stored as the backup, exit 0, holding the other cluster's
 * keys. Now the operation uses only the members the check accepted, and a snapshot member's status must name the
 * checked cluster. B's slowness is made by a TCP proxy in this test that delays every byte B sends by 1.5 s.
 */
const MiB = 1024 * 1024;
const DELAY_MS = 1_500;
let a: TestEtcd;
let b: TestEtcd;
let throttled: TcpProxy;
let slow: DelayProxy;
let dir: string;

interface DelayProxy {
  endpoint: string;
  /** Bytes B sent through it so far. */
  readonly bytesDown: number;
  close(): Promise<void>;
}

/**
 * A loopback TCP proxy that passes what the client sends at once and what the server sends `delayMs` later, in order.
 */
async function startDelayProxy(targetPort: number, delayMs: number): Promise<DelayProxy> {
  const sockets = new Set<Socket>();
  let bytesDown = 0;
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    const closeBoth = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (d) => upstream.write(d));
    upstream.on('data', (d) => {
      setTimeout(() => {
        bytesDown += d.length;
        if (!client.destroyed) client.write(d);
      }, delayMs);
    });
    client.on('error', closeBoth).on('close', closeBoth);
    upstream.on('error', closeBoth).on('close', () => setTimeout(closeBoth, delayMs));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    get bytesDown() {
      return bytesDown;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rs-one-cluster-slow-'));
  [a, b] = await Promise.all([startEtcd(), startEtcd()]);
  await loadBigValues(a.endpoint, 24); // a 12 MiB snapshot: about 3 s through the throttled proxy
  // B's history as long as A's: a watch of B from A's next revision gets B's changes at once.
  for (let i = 0; i < 40; i++) await b.ctl(['put', `/registry/configmaps/other/cluster-${i}`, 'of B']);
  throttled = await startTcpProxy(portOf(a.endpoint), { rate: 4 * MiB });
  slow = await startDelayProxy(portOf(b.endpoint), DELAY_MS);
}, 120_000);
afterAll(async () => {
  await Promise.all([throttled?.close(), slow?.close()]);
  await Promise.all([a?.stop(), b?.stop()]);
  await rm(dir, { recursive: true, force: true });
});

describe('a live member of another cluster that answers slower than a second', () => {
  it('is never streamed a snapshot from when the checked member breaks mid-way: exit 1, nothing stored', async () => {
    const store = join(dir, 'snapshot');
    let log = '';
    let cut = false;
    const res = await runCli(['backup', '--strategy', 'snapshot'], { RS_ETCD_ENDPOINTS: `http://${throttled.address},${slow.endpoint}`, RS_BACKUP_DIR: store }, {
      timeoutMs: 60_000,
      onStart: (c) =>
        c.stderr!.on('data', (d: Buffer) => {
          log += d.toString();
          // A's stream is under way: it breaks (a network cut), as a member's reboot would break it.
          if (!cut && log.includes('taking the snapshot of')) setTimeout(() => ((cut = true), throttled.cut()), 300);
        }),
    });
    expect(cut, res.stderr).toBe(true);
    expect(res.stderr).toContain(`passing over ${slow.endpoint}: it did not answer within a second`);
    expect(res.stderr).not.toContain(`taking the snapshot of ${slow.endpoint}`);
    expect(res.code, res.stderr).toBe(1);
    expect(await listFiles(store)).toEqual([]);
  }, 90_000);

  // Last: it closes the way to A. run's watch of changes used a client of every endpoint, B included, which no check
  // had passed over: a watch resumed after A was lost went to B, recording B's changes onto A's chain (then, B
  // answering as another cluster, a "full backup at once" of B). It is now pinned as a backup is.
  it("is never watched by run's recording of changes when the checked member is lost", async () => {
    const store = join(dir, 'recording');
    const run = startRun({ RS_ETCD_ENDPOINTS: `http://${throttled.address},${slow.endpoint}`, RS_BACKUP_DIR: store, RS_HTTP_PORT: '0', RS_DELTA_INTERVAL: '1s' });
    try {
      await run.until(/"msg":"watching etcd for changes"/, 60_000);
      await throttled.close();
      await b.ctl(['put', '/registry/configmaps/other/changed', 'while A is away']);
      await run.until(/lost the watch of etcd/);
      // Time for several attempts to watch again: before, one reached B within 4 s (a 3 s wait for its connection, then
      // B's delay), and B's snapshot was stored as the new base.
      await new Promise((r) => setTimeout(r, 10_000));
      expect(run.log()).not.toMatch(/answers as cluster|watching etcd for changes again|cannot go on without a gap/);
      expect((await listFiles(store)).filter((f) => f.endsWith('.json'))).toHaveLength(1);
      expect(run.log()).toContain(`passing over ${slow.endpoint} for the watch of changes`);
    } finally {
      run.child().kill('SIGTERM');
      await run.done;
    }
  }, 120_000);
});
