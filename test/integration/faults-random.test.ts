import type { ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { bucketKeys, listFiles, loadBigValues, portOf, whileRunning } from '../helpers/faults.js';
import { startS3, type TestS3 } from '../helpers/s3.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

const MiB = 1024 * 1024;
// RS_FAULT_SEED replays a failed run; RS_FAULT_RUNS makes it longer.
const SEED = Number(process.env.RS_FAULT_SEED ?? Math.floor(Math.random() * 2 ** 31));
const RUNS = Number(process.env.RS_FAULT_RUNS ?? 5);

/** mulberry32: a small seeded PRNG, so that a failing sequence of faults can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Listed {
  id: string;
  artifact: string;
}

/**
 * Randomized faults: snapshot and raw backups, to a local directory and to S3, with etcd killed, S3 killed or
 * reshifter sent SIGTERM at a random moment of the run. Whatever happens, nothing is lost or partial: every backup
 * `list` shows verifies, no stored file lacks its manifest, no temporary file is left (store or TMPDIR), and the
 * backups taken before are all still there. The seed is printed (and is in the test's name).
 */
describe('randomized faults', () => {
  let etcd: TestEtcd;
  let proxy: TcpProxy;
  let s3: TestS3;
  let dir: string;
  let dataDir: string;
  let tmp: string;

  beforeAll(async () => {
    console.log(`faults-random: seed ${SEED}, ${RUNS} runs (replay: RS_FAULT_SEED=${SEED})`);
    dir = await mkdtemp(join(tmpdir(), 'rs-fault-random-'));
    dataDir = join(dir, 'etcd-data');
    tmp = join(dir, 'tmp');
    await mkdir(tmp);
    [etcd, s3] = await Promise.all([startEtcd({ dataDir }), startS3()]);
    // 12 MiB of incompressible values in 500 keys, read in about a second through the proxy: a fault lands anywhere in
    // the transfer, or after the backup has completed.
    await loadBigValues(etcd.endpoint, 500, 24 * 1024);
    proxy = await startTcpProxy(portOf(etcd.endpoint), { rate: 12 * MiB });
    // A backup in each store before any fault: it must survive them all.
    for (const res of await Promise.all(Object.values(stores()).map((store) => runCli(['backup'], env(store))))) expect(res.code).toBe(0);
  });
  afterAll(async () => {
    await proxy?.close();
    await Promise.all([etcd?.stop(), s3?.stop()]);
    await rm(dir, { recursive: true, force: true });
  });

  const stores = () => ({ local: { RS_BACKUP_DIR: join(dir, 'local') }, s3: s3.env });
  const env = (store: Record<string, string>, extra: Record<string, string> = {}) => ({
    RS_ETCD_ENDPOINTS: `http://${proxy.address}`,
    RS_KUBE_PREFIXES: '/registry',
    // A killed etcd is retried for RS_ETCD_TIMEOUT before the backup fails; a page read through the proxy takes well
    // under it (faults-etcd reads at 4 MiB/s with 3 s).
    RS_ETCD_TIMEOUT: '3s',
    RS_COMPRESSION: 'none',
    RS_S3_REQUEST_TIMEOUT: '2s',
    RS_S3_RETRY_WINDOW: '3s',
    TMPDIR: tmp,
    ...store,
    ...extra,
  });
  const listed = async (store: Record<string, string>): Promise<Listed[]> => {
    const res = await runCli(['list', '--json'], env(store));
    expect(res.code, res.stderr).toBe(0);
    return JSON.parse(res.stdout) as Listed[];
  };
  /** Every stored file: relative paths (local, temporary files included) or keys (S3: completed objects). */
  const storedFiles = async (kind: 'local' | 's3') => (kind === 'local' ? listFiles(join(dir, 'local')) : bucketKeys(s3));

  it(`${RUNS} backups with a random fault each leave nothing lost or partial (seed ${SEED})`, { timeout: 600_000 }, async () => {
    const random = prng(SEED);
    const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)]!;
    const verified = new Set<string>();
    /** Stray artifacts an earlier run left and said so: still there (retention removes orphans), not this run's. */
    const explained = new Set<string>();
    const [local, s3Listed] = await Promise.all([listed(stores().local), listed(stores().s3)]);
    const listings = { local, s3: s3Listed };
    for (let run = 0; run < RUNS; run++) {
      const kind = pick(['local', 's3'] as const);
      const strategy = pick(['snapshot', 'raw']);
      const fault = pick(kind === 's3' ? ['etcd', 's3', 'sigterm'] : ['etcd', 'sigterm']);
      // Up to a little past the end of a backup, so that some runs complete before their fault.
      const delayMs = Math.floor(random() * 3500);
      const what = `run ${run} (seed ${SEED}): ${strategy} to ${kind}, ${fault} ${delayMs} ms after the backup started`;
      const store = stores()[kind];
      const t0 = Date.now();
      const before = listings[kind];

      let child!: ChildProcess;
      let stderr = '';
      const result = runCli(['backup', '--json', '--strategy', strategy], env(store), {
        timeoutMs: 120_000,
        onStart: (c) => {
          child = c;
          c.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
        },
      });
      let ended = false;
      void result.then(() => (ended = true));
      await whileRunning(result, () => /backup started/.test(stderr), `${what}: the backup to start`).catch(() => undefined);
      await new Promise((r) => setTimeout(r, delayMs));
      if (!ended) {
        if (fault === 'etcd') await etcd.kill();
        else if (fault === 's3') await s3.kill();
        else child.kill('SIGTERM');
      }
      const res: CliResult = await result;
      const t1 = Date.now();
      // Bring back what was killed before looking at the store.
      if (etcd.process.exitCode !== null || etcd.process.signalCode !== null) {
        etcd = await startEtcd({ dataDir });
        proxy.retarget(portOf(etcd.endpoint));
      }
      if (s3.process.exitCode !== null || s3.process.signalCode !== null) await s3.restart();

      // It ended by itself (not by the harness's timeout), with a clear outcome.
      expect(res.signal, what).toBeNull();
      expect([0, 1], `${what}\n${res.stderr}`).toContain(res.code);
      expect(res.stderr, what).not.toMatch(/this is a bug|\n\s+at /);
      const after = await listed(store);
      listings[kind] = after;
      const ids = after.map((m) => m.id);
      // Earlier backups are all still there.
      expect(ids, what).toEqual(expect.arrayContaining(before.map((m) => m.id)));
      if (res.code === 0) expect(ids, what).toContain((JSON.parse(res.stdout) as Listed).id);
      // Every new backup verifies (at once: verifies only read).
      const fresh = after.filter((b) => !verified.has(b.id));
      const verifies = await Promise.all(fresh.map((m) => runCli(['verify', m.id], env(store))));
      fresh.forEach((m, i) => {
        expect(verifies[i]!.code, `${what}: verify ${m.id}\n${verifies[i]!.stdout}${verifies[i]!.stderr}`).toBe(0);
        verified.add(m.id);
      });
      // Nothing partial: no temporary file, and every stored file is a manifest or the artifact of a listed backup.
      // The one exception is an artifact whose manifest could not be written nor the artifact deleted (S3 gone for
      // good at that moment): complete, unlisted, and said in the log; retention removes it as an orphan.
      const owned = new Set(after.flatMap((m) => [`default/${m.id}.manifest.json`, `default/${m.artifact}`]));
      const stray = (await storedFiles(kind)).filter((f) => !owned.has(f) && !explained.has(f));
      if (stray.length > 0) expect(res.stderr, `${what}: ${stray.join(', ')}`).toMatch(/could not delete the (artifact of the failed backup|object of the failed upload)/);
      for (const f of stray) explained.add(f);
      expect(stray.filter((f) => f.includes('.tmp-') || f.endsWith('.manifest.json')), what).toEqual([]);
      expect(await readdir(tmp), what).toEqual([]);
      console.log(`${what}: exit ${res.code}, ${after.length - before.length} new backup(s); backup ${t1 - t0} ms, checks ${Date.now() - t1} ms`);
    }
    // At the end, everything both stores list still verifies (a store's verifies at once: they only read).
    for (const store of Object.values(stores())) {
      const all = await listed(store);
      const codes = await Promise.all(all.map(async (m) => (await runCli(['verify', m.id], env(store))).code));
      all.forEach((m, i) => expect(codes[i], `verify ${m.id} (seed ${SEED})`).toBe(0));
    }
  });
});
