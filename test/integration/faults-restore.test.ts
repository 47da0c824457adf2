import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../helpers/ports.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import { etcdDigests } from '../helpers/big-values.js';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { countKeys, loadBigValues, portOf, until, whileRunning } from '../helpers/faults.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

const KEYS = 1000;

/** Polls until the count stays the same for `quietMs`: etcd has applied everything it was sent. */
async function settledCount(endpoint: string, quietMs = 1000): Promise<number> {
  let last = -1;
  let since = Date.now();
  for (;;) {
    const n = await countKeys(endpoint);
    if (n !== last) [last, since] = [n, Date.now()];
    else if (Date.now() - since >= quietMs) return n;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Restores into an etcd that goes away half-way. The proxy in front of the target holds etcd's answers back while
 * the client's transactions still reach etcd, which applies them: exactly the case of an etcd that died (or a
 * connection that dropped) after applying a transaction and before answering it.
 */
describe('restore into an etcd that dies', () => {
  let source: TestEtcd;
  let target: TestEtcd;
  let proxy: TcpProxy;
  let dir: string;
  let dump: Manifest;
  const store = () => ({ RS_BACKUP_DIR: join(dir, 'store'), RS_COMPRESSION: 'none' });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rs-fault-restore-'));
    source = await startEtcd();
    await loadBigValues(source.endpoint, KEYS, 24 * 1024);
    const backup = await runCli(['backup', '--json'], { ...store(), RS_ETCD_ENDPOINTS: source.endpoint, RS_BACKUP_STRATEGY: 'raw', RS_KUBE_PREFIXES: '/registry' });
    expect(backup.code, backup.stderr).toBe(0);
    dump = JSON.parse(backup.stdout) as Manifest;
    proxy = await startTcpProxy(1);
  });
  afterAll(async () => {
    await proxy?.close();
    await Promise.all([source?.stop(), target?.stop()]);
    await rm(dir, { recursive: true, force: true });
  });

  it('etcd unreachable from the start (a real restore or a dry run): says etcd was not changed, not to run it again', async () => {
    const nobody = `http://127.0.0.1:${await freePort()}`;
    // Both at once: each waits out RS_ETCD_TIMEOUT.
    const runs = [['restore', dump.id], ['restore', dump.id, '--dry-run']].map((args) => runCli(args, { ...store(), RS_ETCD_ENDPOINTS: nobody, RS_ETCD_TIMEOUT: '1s' }));
    for (const res of await Promise.all(runs)) {
      expect(res.code, res.stderr).toBe(1);
      expect(res.stderr).toMatch(/reshifter: .*etcd is unreachable.* before writing any key: etcd was not changed\n$/);
      expect(res.stderr).not.toMatch(/run it again/);
    }
  });

  /** A fresh empty target behind the proxy; a restore into it is started and has written some keys. */
  const startRestore = async (dataDir: string) => {
    target = await startEtcd({ dataDir });
    proxy.retarget(portOf(target.endpoint));
    proxy.holdReplies = false;
    const env = { ...store(), RS_ETCD_ENDPOINTS: `http://${proxy.address}`, RS_ETCD_TIMEOUT: '5s' };
    let child!: ChildProcess;
    const running = runCli(['restore', dump.id, '--json'], env, { onStart: (p) => (child = p) });
    await whileRunning(running, async () => (await countKeys(target.endpoint)) >= 200, '200 restored keys');
    // From now on etcd applies what it is sent and no answer comes back: the transactions in flight (at most four)
    // are applied without being confirmed.
    proxy.holdReplies = true;
    const applied = await settledCount(target.endpoint);
    return { env, running, applied, child };
  };

  it('etcd dies with transactions applied but unanswered: the count of keys written says so, and a re-run completes it', async () => {
    const dataDir = join(dir, 'dies');
    const { env, running, applied } = await startRestore(dataDir);
    await target.kill();
    const res = await running;
    expect(res.code).toBe(1);
    expect(res.stderr).not.toMatch(/\n\s+at |this is a bug|circuit breaker/);
    const m = /reshifter: restore of backup \S+ failed \(.*etcd is unreachable or went away.*\) after writing (\d+) keys \(and sent (\d+) more that etcd did not confirm: they may have been written too\); run it again to complete it/.exec(res.stderr);
    expect(m, res.stderr).not.toBeNull();
    const [written, inDoubt] = [Number(m![1]), Number(m![2])];
    expect(written).toBeGreaterThan(0);
    expect(inDoubt).toBeGreaterThan(0);

    target = await startEtcd({ dataDir });
    proxy.retarget(portOf(target.endpoint));
    proxy.holdReplies = false;
    // Every transaction sent was applied (none was answered after the hold): the keys written and those in doubt
    // are exactly what the target holds.
    expect(await countKeys(target.endpoint)).toBe(applied);
    expect(written + inDoubt).toBe(applied);
    const again = await runCli(['restore', dump.id, '--json'], env);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ written: KEYS - applied, totals: { create: KEYS - applied, unchanged: applied } });
    expect(await etcdDigests(target.endpoint)).toEqual(await etcdDigests(source.endpoint));
    await target.stop();
  });

  it('stopped (SIGTERM) with transactions applied but unanswered: the count of keys written says so, not fewer', async () => {
    const { running, applied, child } = await startRestore(join(dir, 'stopped'));
    child.kill('SIGTERM');
    const res = await running;
    expect(res.code).toBe(1);
    const m = /reshifter: restore of backup \S+ was interrupted after writing (\d+) keys \(and sent (\d+) more that etcd did not confirm: they may have been written too\); run it again to complete it/.exec(res.stderr);
    expect(m, res.stderr).not.toBeNull();
    // The transactions cut short by the stop were applied: they are among those in doubt, not missing from the count.
    expect(Number(m![1]) + Number(m![2])).toBe(applied);
    expect(await countKeys(target.endpoint)).toBe(applied);
    await target.stop();
  });

  it('a connection cut after etcd applied transactions: they are sent again and count as written, not unchanged', async () => {
    const { running } = await startRestore(join(dir, 'cut'));
    proxy.holdReplies = false;
    proxy.cut();
    const res = await running;
    expect(res.stderr).not.toMatch(/this is a bug|circuit breaker/);
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ written: KEYS, totals: { create: KEYS, unchanged: 0 } });
    await until(async () => (await countKeys(target.endpoint)) === KEYS, 'every key in the target');
    expect(await etcdDigests(target.endpoint)).toEqual(await etcdDigests(source.endpoint));
  });
});
