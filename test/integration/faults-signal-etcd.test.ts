import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { listFiles, loadBigValues, portOf, terminateWhen, until } from '../helpers/faults.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

const MiB = 1024 * 1024;
/**
 * How long a signalled command may take to exit: generous for two busy cores, and far below RS_ETCD_TIMEOUT (20 s),
 * which is what the command used to wait for the etcd call in flight, so a command that waits for etcd fails here.
 */
const EXIT_WITHIN_MS = 5_000;

/**
 * SIGTERM while etcd is frozen (SIGSTOP: connections open, nothing answers) or down (killed): the command stops within
 * seconds instead of waiting for the etcd call's retries and deadline (a pod's grace period is 30 s), exits 1 saying
 * it was interrupted, and leaves nothing in the store. faults-signal.test.ts covers SIGTERM while etcd answers.
 */
describe('SIGTERM while etcd is frozen or down', () => {
  let etcd: TestEtcd;
  let proxy: TcpProxy;
  let dir: string;
  /** A key dump taken while etcd answered, for the restore case. */
  let dumpId: string;
  const dumpStore = () => join(dir, 'dumps');

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rs-signal-etcd-'));
    etcd = await startEtcd();
    await loadBigValues(etcd.endpoint, 1000, 24 * 1024);
    // Tells when the command has reached etcd (bytes sent), and slows a dump so that a freeze lands mid-transfer.
    proxy = await startTcpProxy(portOf(etcd.endpoint));
    const dump = await runCli(['backup', '--json'], { ...env({ RS_BACKUP_DIR: dumpStore() }), RS_BACKUP_STRATEGY: 'raw' });
    expect(dump.code, dump.stderr).toBe(0);
    dumpId = (JSON.parse(dump.stdout) as { id: string }).id;
  });
  afterEach(() => {
    // A failed test must not leave etcd frozen for the next one (SIGCONT on a running process does nothing).
    if (etcd.process.exitCode === null && etcd.process.signalCode === null) etcd.process.kill('SIGCONT');
    proxy.rate = 0;
  });
  afterAll(async () => {
    await proxy?.close();
    await etcd?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  function env(extra: Record<string, string>, endpoint = `http://${proxy.address}`): Record<string, string> {
    return { RS_ETCD_ENDPOINTS: endpoint, RS_ETCD_TIMEOUT: '20s', RS_COMPRESSION: 'none', RS_HTTP_PORT: '0', ...extra };
  }

  /** Runs the CLI, sends SIGTERM once `ready` holds, and returns the result and how long it took to exit after it. */
  // Half a second on: into the call's retries (etcd down) or well into its wait (etcd frozen).
  const terminate = (args: string[], e: Record<string, string>, ready: (stderr: string) => boolean) =>
    terminateWhen(args, e, ready, 'the command to wait for etcd', 500);

  /** The command has sent etcd a request (a frozen etcd's kernel still accepts the connection). */
  const askedEtcd = () => {
    const sent = proxy.bytesUp;
    return () => proxy.bytesUp > sent;
  };

  const expectStopped = ({ res, exitMs }: { res: CliResult; exitMs: number }, message: RegExp) => {
    expect(res.stderr).toMatch(/signal received: stopping/);
    expect(res.stderr).toMatch(message);
    expect(res.stderr).not.toMatch(/this is a bug|second signal/);
    expect(res.code, res.stderr).toBe(1);
    expect(exitMs).toBeLessThan(EXIT_WITHIN_MS);
  };

  const backupInterrupted = /reshifter: backup interrupted \(received SIGTERM\); nothing was kept\n/;

  it.each([
    ['a key dump when etcd freezes mid-transfer: exit 1 at once, no artifact, manifest or temporary file', 'raw', 'mid-dump'],
    ['a snapshot when etcd freezes mid-stream: exit 1 at once (the stream is cancelled), nothing in the store', 'snapshot', 'mid-snapshot'],
  ])('%s', async (_name, strategy, folder) => {
    const store = join(dir, folder);
    proxy.rate = 4 * MiB;
    const start = proxy.bytesDown;
    const out = await terminate(['backup'], env({ RS_BACKUP_DIR: store, RS_BACKUP_STRATEGY: strategy }), () => {
      if (proxy.bytesDown <= start + 2 * MiB) return false;
      etcd.process.kill('SIGSTOP');
      return true;
    });
    expectStopped(out, backupInterrupted);
    expect(await listFiles(store)).toEqual([]);
  });

  it('a backup while etcd is frozen: exit 1 at once, nothing in the store', async () => {
    const store = join(dir, 'frozen');
    etcd.process.kill('SIGSTOP');
    // RS_BACKUP_STRATEGY unset: the wait is in choosing the API (v2 HTTP probes), then in etcd's status (gRPC).
    const out = await terminate(['backup'], env({ RS_BACKUP_DIR: store }), askedEtcd());
    expectStopped(out, /reshifter: backup interrupted/);
    expect(await listFiles(store)).toEqual([]);
  });

  it('a snapshot while etcd is frozen: exit 1 at once, nothing in the store', async () => {
    const store = join(dir, 'frozen-snapshot');
    etcd.process.kill('SIGSTOP');
    const out = await terminate(['backup'], env({ RS_BACKUP_DIR: store, RS_BACKUP_STRATEGY: 'snapshot' }), askedEtcd());
    // The wait is in the look at etcd's keyspaces before the snapshot (one asked for on v2-only etcd is refused first).
    expectStopped(out, /reshifter: backup interrupted/);
    expect(await listFiles(store)).toEqual([]);
  });

  it('run mode, a scheduled backup while etcd is frozen: exit 1 at once, saying the backup was discarded', async () => {
    const store = join(dir, 'run-frozen');
    etcd.process.kill('SIGSTOP');
    const asked = askedEtcd();
    const out = await terminate(['run'], env({ RS_BACKUP_DIR: store, RS_SCHEDULE: '* * * * * *' }), (stderr) => /scheduler started/.test(stderr) && asked());
    expectStopped(out, /reshifter: stopped while a backup was running; that backup was discarded/);
    expect(out.res.stderr).toMatch(/"msg":"backup failed"/);
    expect(await listFiles(store)).toEqual([]);
  });

  it('run with continuous backups started against a frozen etcd: stops at once, not after the check of the endpoints has waited RS_ETCD_TIMEOUT', async () => {
    // The check of the endpoints waits RS_ETCD_TIMEOUT for an etcd that never answers: SIGTERM ends that wait too.
    const store = join(dir, 'run-delta-frozen');
    const base = await runCli(['backup'], { ...env({ RS_BACKUP_DIR: store }), RS_BACKUP_STRATEGY: 'snapshot' });
    expect(base.code, base.stderr).toBe(0);
    etcd.process.kill('SIGSTOP');
    const asked = askedEtcd();
    const { res, exitMs } = await terminate(['run'], env({ RS_BACKUP_DIR: store, RS_DELTA_INTERVAL: '1s' }), (stderr) => /serving without a schedule/.test(stderr) && asked());
    expect(res.stderr).toMatch(/signal received: stopping/);
    expect(res.stderr).not.toMatch(/this is a bug|second signal|cannot go on/);
    expect(res.code, res.stderr).toBe(0);
    expect(exitMs).toBeLessThan(EXIT_WITHIN_MS);
  });

  it('a restore of a key dump into a frozen etcd: exit 1 at once, saying it was interrupted', async () => {
    etcd.process.kill('SIGSTOP');
    const before = await listFiles(dumpStore());
    const out = await terminate(['restore', dumpId], env({ RS_BACKUP_DIR: dumpStore() }), askedEtcd());
    expectStopped(out, /reshifter: restore of backup \S+ was interrupted before writing any key: etcd was not changed\n/);
    expect(await listFiles(dumpStore())).toEqual(before);
  });

  describe('etcd down (killed)', () => {
    beforeAll(async () => {
      await etcd.kill();
      await until(() => etcd.process.signalCode !== null, 'etcd to exit');
    });

    it('a backup: exit 1 at once, nothing in the store', async () => {
      const store = join(dir, 'down');
      // Straight at the dead port: connections are refused, and retried until RS_ETCD_TIMEOUT.
      const out = await terminate(['backup'], env({ RS_BACKUP_DIR: store }, etcd.endpoint), (stderr) => /backup started/.test(stderr));
      expectStopped(out, backupInterrupted);
      expect(await listFiles(store)).toEqual([]);
    });

    it('run mode, a scheduled backup: exit 1 at once, saying the backup was discarded', async () => {
      const store = join(dir, 'run-down');
      const out = await terminate(['run'], env({ RS_BACKUP_DIR: store, RS_SCHEDULE: '* * * * * *' }, etcd.endpoint), (stderr) => /backup started/.test(stderr));
      expectStopped(out, /reshifter: stopped while a backup was running; that backup was discarded/);
      expect(await listFiles(store)).toEqual([]);
    });
  });
});
