import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { loadBigValues, portOf, whileRunning } from '../helpers/faults.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

const MiB = 1024 * 1024;

/** A digest of every key and value under /registry. */
async function digest(endpoint: string): Promise<{ keys: number; sha256: string }> {
  const client = new Etcd3({ hosts: endpoint, grpcOptions: { 'grpc.max_receive_message_length': 64 * 1024 * 1024 } });
  try {
    const all = await client.getAll().prefix('/registry').sort('Key', 'Ascend').buffers();
    const h = createHash('sha256');
    for (const [k, v] of Object.entries(all)) h.update(k).update('\0').update(v).update('\0');
    return { keys: Object.keys(all).length, sha256: h.digest('hex') };
  } finally {
    client.close();
  }
}

/** Restore into an etcd that dies half-way: exit 1 saying how many keys were written; the same restore again completes. */
describe('restore into an etcd that dies', () => {
  let source: TestEtcd;
  let target: TestEtcd;
  let proxy: TcpProxy;
  let dir: string;
  let targetData: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rs-fault-restore-'));
    targetData = join(dir, 'target-data');
    [source, target] = await Promise.all([startEtcd(), startEtcd({ dataDir: targetData })]);
    await loadBigValues(source.endpoint, 1000, 24 * 1024);
    proxy = await startTcpProxy(portOf(target.endpoint));
  });
  afterAll(async () => {
    await proxy?.close();
    await Promise.all([source?.stop(), target?.stop()]);
    await rm(dir, { recursive: true, force: true });
  });

  it('exit 1 with the number of keys written; running it again completes it', async () => {
    const store = { RS_BACKUP_DIR: join(dir, 'store'), RS_COMPRESSION: 'none' };
    const backup = await runCli(['backup'], { ...store, RS_ETCD_ENDPOINTS: source.endpoint, RS_BACKUP_STRATEGY: 'raw', RS_KUBE_PREFIXES: '/registry' });
    expect(backup.code).toBe(0);

    // Writes slowed to 8 MiB/s: the kill lands after roughly a third of the 24 MiB.
    proxy.rateUp = 8 * MiB;
    const restoreEnv = { ...store, RS_ETCD_ENDPOINTS: `http://${proxy.address}`, RS_ETCD_TIMEOUT: '5s' };
    const running = runCli(['restore', 'latest'], restoreEnv);
    const start = proxy.bytesUp;
    await whileRunning(running, () => proxy.bytesUp > start + 8 * MiB, '8 MiB of restored keys');
    await target.kill();
    const res = await running;
    expect(res.code).toBe(1);
    const m = /reshifter: restore of backup \S+ failed \(.*\) after writing (\d+) keys; run it again to complete it/.exec(res.stderr);
    expect(m, res.stderr).not.toBeNull();
    const written = Number(m![1]);
    expect(written).toBeGreaterThan(0);
    expect(written).toBeLessThan(1000);
    expect(res.stderr).not.toMatch(/\n\s+at |this is a bug/);

    target = await startEtcd({ dataDir: targetData });
    proxy.retarget(portOf(target.endpoint));
    proxy.rateUp = 0;
    // At least the keys it reported were durably written before etcd died.
    expect((await digest(target.endpoint)).keys).toBeGreaterThanOrEqual(written);
    const again = await runCli(['restore', 'latest'], restoreEnv);
    expect(again.stderr).not.toMatch(/this is a bug/);
    expect(again.code, again.stderr).toBe(0);
    expect(await digest(target.endpoint)).toEqual(await digest(source.endpoint));
  });
});
