import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { isDeltaManifest } from '../../../src/archive/manifest.js';
import { BackupRepository } from '../../../src/store/backup-repository.js';
import { LocalStore } from '../../../src/store/local-store.js';
import { runCli, type CliResult } from '../../helpers/cli.js';
import { startRestartableEtcd, type RestartableEtcd } from '../../helpers/etcd-restartable.js';
import { loadBigValues, portOf } from '../../helpers/faults.js';
import { freePort } from '../../helpers/ports.js';
import { startTcpProxy } from '../../helpers/tcp-proxy.js';

let etcd: RestartableEtcd;
let client: Etcd3;
let work: string;
beforeAll(async () => {
  etcd = await startRestartableEtcd();
  client = new Etcd3({ hosts: etcd.endpoint });
  work = await mkdtemp(join(tmpdir(), 'rs-delta-obs-'));
});
afterAll(async () => {
  client?.close();
  await etcd?.stop();
  await rm(work, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const metric = (page: string, name: string) => {
  const m = new RegExp(`^${name} ([0-9.e+-]+)$`, 'm').exec(page);
  return m ? Number(m[1]) : undefined;
};

it('counts segments and changes, reports the last revision and the lag, and /healthz fails while the watch is down for more than 3 intervals', async () => {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let log = '';
  const done: Promise<CliResult> = runCli(['run'], { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: work, RS_HTTP_PORT: String(port), RS_DELTA_INTERVAL: '1s' }, {
    timeoutMs: 120_000,
    onStart: (c) => {
      child = c;
      c.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    },
  });
  const until = async (ok: () => boolean | Promise<boolean>, what: string) => {
    for (const end = Date.now() + 30_000; !(await ok()); await sleep(100)) {
      if (Date.now() > end) {
        // Not left running after the test.
        child?.kill('SIGKILL');
        throw new Error(`${what}; log:\n${log}`);
      }
    }
  };
  // A failed check must not leave run behind (it outlived the test run, retrying an etcd that was gone).
  try {
    await until(() => log.includes('"msg":"recording changes"'), 'no recording');
    let last = 0;
    for (let i = 0; i < 25; i++) last = Number((await client.put(`/registry/m/${i}`).value(`v${i}`).exec()).header.revision);
    const page = async () => (await fetch(`${url}/metrics`)).text();
    await until(async () => metric(await page(), 'reshifter_delta_last_revision') === last, `reshifter_delta_last_revision never reached ${last}`);
    const p = await page();
    expect(metric(p, 'reshifter_delta_events_total')).toBe(25);
    // One per segment stored: as many as the store holds (none is stored without changes, and none came since).
    const stored = (await new BackupRepository(new LocalStore(work), 'default').list()).backups.filter((m) => isDeltaManifest(m));
    expect(stored.length).toBeGreaterThanOrEqual(1);
    expect(metric(p, 'reshifter_delta_segments_total')).toBe(stored.length);
    expect(metric(p, 'reshifter_delta_lag_seconds')).toBe(0);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);

    // etcd gone: healthy for up to 3 intervals, then 503 saying why; healthy again once the watch is back.
    await etcd.kill();
    await until(async () => (await fetch(`${url}/healthz`)).status === 503, '/healthz never turned 503');
    const body = (await (await fetch(`${url}/healthz`)).json()) as { reason: string; delta: { watching: boolean } };
    expect(body.reason).toMatch(/the watch of changes for continuous backups has been down since .* \(more than 3 intervals of 1s\)/);
    expect(body.delta.watching).toBe(false);
    // The recovery point grows while nothing is recorded (the alert on it reads it): not 0 because nothing waits.
    await until(async () => metric(await page(), 'reshifter_delta_lag_seconds')! > 3, 'reshifter_delta_lag_seconds stayed under 3 s while nothing was recorded');
    await etcd.start();
    await until(async () => (await fetch(`${url}/healthz`)).status === 200, '/healthz never recovered');
    await until(async () => metric(await page(), 'reshifter_delta_lag_seconds')! < 3, 'the lag never went down after the watch came back');
    child!.kill('SIGTERM');
    expect((await done).code).toBe(0);
  } finally {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}, 120_000);

it('stays ready while the first full backup, which the watch waits for, takes longer than 3 intervals, and says so', async () => {
  const store = await mkdtemp(join(tmpdir(), 'rs-delta-first-'));
  // About 2 MiB of values read through a proxy at 400 KB/s: the first full backup takes several seconds, 3 intervals 3 s.
  await loadBigValues(etcd.endpoint, 4);
  const proxy = await startTcpProxy(portOf(etcd.endpoint), { rate: 400_000 });
  const port = await freePort();
  let child: ChildProcess | undefined;
  let log = '';
  const done: Promise<CliResult> = runCli(['run'], { RS_ETCD_ENDPOINTS: `http://${proxy.address}`, RS_BACKUP_DIR: store, RS_HTTP_PORT: String(port), RS_DELTA_INTERVAL: '1s' }, {
    timeoutMs: 90_000,
    onStart: (c) => {
      child = c;
      c.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    },
  });
  try {
    const seen: Array<{ at: number; status: number; reason: string }> = [];
    const health = async () => {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
      if (res) seen.push({ at: Date.now(), status: res.status, reason: ((await res.json()) as { reason: string }).reason });
    };
    for (const end = Date.now() + 60_000; !log.includes('"msg":"watching etcd for changes"'); await sleep(250)) {
      if (Date.now() > end) throw new Error(`the watch never started; log:\n${log}`);
      await health();
    }
    // The test means something only if the backup outlasted 3 intervals while /healthz was asked.
    expect(seen.at(-1)!.at - seen[0]!.at).toBeGreaterThan(3500);
    expect(seen.filter((h) => h.status !== 200)).toEqual([]);
    const during = seen.filter((h) => h.reason.startsWith('first full backup in progress since '));
    expect(during.at(-1)!.at - during[0]!.at).toBeGreaterThan(3500);
    proxy.rate = 0;
    await health();
    expect(seen.at(-1)!.status).toBe(200);
    expect(seen.at(-1)!.reason).not.toContain('first full backup');
  } finally {
    child?.kill('SIGTERM');
    await done;
    await proxy.close();
    await rm(store, { recursive: true, force: true });
  }
}, 120_000);
