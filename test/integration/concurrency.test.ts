import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { listFiles, loadBigValues, portOf, whileRunning } from '../helpers/faults.js';
import { startS3, type TestS3 } from '../helpers/s3.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

interface M {
  id: string;
  createdAt: string;
}

/** Two writers on one store: two backups at once, and retention racing a backup. */
describe('concurrent runs on one store', () => {
  let etcd: TestEtcd;
  let s3: TestS3;
  let slow: TcpProxy;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rs-concurrent-'));
    [etcd, s3] = await Promise.all([startEtcd(), startS3()]);
    await loadBigValues(etcd.endpoint, 8, 256 * 1024); // 2 MiB
    slow = await startTcpProxy(portOf(etcd.endpoint));
  });
  afterAll(async () => {
    await slow?.close();
    await Promise.all([etcd?.stop(), s3?.stop()]);
    await rm(dir, { recursive: true, force: true });
  });

  it.each([
    ['a local directory', () => ({ RS_BACKUP_DIR: join(dir, 'two-local') })],
    ['S3', () => s3.env],
  ])('two backups at the same time into %s: two distinct, valid backups', async (_where, store) => {
    const env = { RS_ETCD_ENDPOINTS: etcd.endpoint, ...store() };
    const [a, b] = await Promise.all([runCli(['backup', '--json'], env), runCli(['backup', '--json'], env)]);
    expect([a.code, b.code]).toEqual([0, 0]);
    const ids = [(JSON.parse(a.stdout) as M).id, (JSON.parse(b.stdout) as M).id];
    expect(new Set(ids).size).toBe(2);
    const listed = JSON.parse((await runCli(['list', '--json'], env)).stdout) as M[];
    expect(listed.map((m) => m.id).sort()).toEqual([...ids].sort());
    for (const id of ids) expect((await runCli(['verify', id], env)).code).toBe(0);
  });

  it('retention racing a backup never deletes the newest, nor the one in flight', async () => {
    const store = join(dir, 'race');
    const fast = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: store, RS_RETENTION_KEEP_LAST: '1' };
    const old = JSON.parse((await runCli(['backup', '--json'], fast)).stdout) as M;

    // A: a backup held back by the throttling proxy until B and the prune are done, started first.
    slow.rate = 32 * 1024; // slow enough that B and the prune finish first even on a loaded 2-core machine
    const start = slow.bytesDown;
    const a = runCli(['backup', '--json'], { ...fast, RS_ETCD_ENDPOINTS: `http://${slow.address}` });
    await whileRunning(a, () => slow.bytesDown > start + 64 * 1024, 'backup A to stream');
    // While A streams: B, a fast backup with its own retention, and a `prune`, both with keep-last 1.
    const b = await runCli(['backup', '--json'], fast);
    expect(b.code).toBe(0);
    const newest = JSON.parse(b.stdout) as M;
    const prune = await runCli(['prune'], fast);
    expect(prune.code).toBe(0);
    // A's temporary file is still there, untouched by both retention runs.
    expect((await listFiles(join(store, 'default'))).some((f) => f.startsWith('.tmp-'))).toBe(true);
    expect(slow.bytesDown - start).toBeLessThan(2 * 1024 * 1024);

    slow.rate = 0;
    const aRes = await a;
    expect(aRes.stderr).toMatch(/backup completed/);
    expect(aRes.code).toBe(0);
    const inFlight = JSON.parse(aRes.stdout) as M;
    expect(inFlight.createdAt < newest.createdAt).toBe(true);

    // A's retention protected A (just made) and B (the newest); only the old one is gone.
    const listed = (JSON.parse((await runCli(['list', '--json'], fast)).stdout) as M[]).map((m) => m.id);
    expect(listed).toEqual([newest.id, inFlight.id]);
    expect(listed).not.toContain(old.id);
    for (const id of listed) expect((await runCli(['verify', id], fast)).code).toBe(0);
  });
});
