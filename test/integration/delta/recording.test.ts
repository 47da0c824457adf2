import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { isDeltaManifest, type Manifest } from '../../../src/archive/manifest.js';
import { validateChain } from '../../../src/core/delta-chain.js';
import type { DeltaEvent } from '../../../src/core/delta-event.js';
import { BackupRepository } from '../../../src/store/backup-repository.js';
import { LocalStore } from '../../../src/store/local-store.js';
import { startRun, killStarted } from '../../helpers/background-run.js';
import { runCli } from '../../helpers/cli.js';
import { compareWithHistory, segmentEvents, segmentsOf } from '../../helpers/delta-history.js';
import { startRestartableEtcd, type RestartableEtcd } from '../../helpers/etcd-restartable.js';
import { loadBigValues, portOf } from '../../helpers/faults.js';
import { startTcpProxy } from '../../helpers/tcp-proxy.js';

let etcd: RestartableEtcd;
let client: Etcd3;
let work: string;
beforeAll(async () => {
  etcd = await startRestartableEtcd();
  client = new Etcd3({ hosts: etcd.endpoint });
  work = await mkdtemp(join(tmpdir(), 'rs-delta-'));
});
afterAll(async () => {
  killStarted();
  client?.close();
  await etcd?.stop();
  await rm(work, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Writes until etcd answers again (it may be restarting). */
async function retrying<T>(fn: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i > 100) throw err;
      await sleep(100);
    }
  }
}

const put = (k: string, v: string) => retrying(() => client.put(k).value(v).exec()).then((r) => Number(r.header.revision));
const del = (k: string) => retrying(() => client.delete().key(k).exec()).then((r) => Number(r.header.revision));

/** Polls the store until a segment of `base` covers `revision`; the time it took from `since`. */
async function coveredAfter(repo: BackupRepository, base: string, revision: number, since: number): Promise<number> {
  for (;;) {
    const segs = segmentsOf((await repo.list()).backups, base);
    if (segs.some((s) => s.fromRevision <= revision && revision <= s.toRevision)) return Date.now() - since;
    if (Date.now() - since > 30_000) throw new Error(`no segment covers revision ${revision}`);
    await sleep(25);
  }
}

it('records every change from the base on, across an etcd restart, as etcd\'s own history has it; SIGTERM stores the rest', async () => {
  const store = join(work, 'restart');
  const env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: store, RS_HTTP_PORT: '0' };
  const repo = new BackupRepository(new LocalStore(store), 'default');
  for (let i = 0; i < 50; i++) await put(`/registry/configmaps/ns/seed-${i}`, `seed ${i}`);
  const base = JSON.parse((await runCli(['backup', '--json'], env)).stdout) as Manifest;
  expect(base.etcd!.revision).toBeGreaterThan(50);

  const run = startRun({ ...env, RS_DELTA_INTERVAL: '2s' });
  await run.until(/"msg":"recording changes"/);
  expect(run.log()).toContain(`"fromRevision":${base.etcd!.revision + 1}`);

  // Phase 1: new keys, updates, deletes, a transaction of several keys in one revision, a leased key.
  for (let i = 0; i < 200; i++) await put(`/registry/pods/ns/p-${i}`, `spec ${i} ${'x'.repeat(i)}`);
  for (let i = 0; i < 50; i++) await put(`/registry/configmaps/ns/seed-${i}`, `updated ${i}`);
  for (let i = 0; i < 40; i++) await del(`/registry/pods/ns/p-${i * 5}`);
  await retrying(() => client.kv.txn({ compare: [], success: [0, 1, 2].map((n) => ({ request_put: { key: Buffer.from(`/registry/txn/${n}`), value: Buffer.from(`t${n}`) } })), failure: [] }));
  const lease = client.lease(600, { autoKeepAlive: false });
  await lease.put('/registry/leases/holder').value('leased').exec();

  // The recovery point: from a put until a stored segment covers its revision.
  const rpo: number[] = [];
  for (let i = 0; i < 4; i++) {
    const t = Date.now();
    const rev = await put(`/registry/rpo/${i}`, `sample ${i}`);
    rpo.push(await coveredAfter(repo, base.id, rev, t));
  }

  // An etcd crash in the middle: the watch resumes from the last revision it recorded. Down for longer than the
  // interval (2 s), or its return is not logged as 'again': test etcds restart in well under a second now (CI on
  // 61fe087 saw 1.5 s of sleep and a quick start resume without the line).
  await etcd.kill();
  await sleep(2500);
  await etcd.start();
  for (let i = 40; i < 140; i++) await put(`/registry/pods/ns/p-${i}`, `after restart ${i}`);
  for (let i = 0; i < 30; i++) await del(`/registry/configmaps/ns/seed-${i}`);
  await run.until(/"msg":"watching etcd for changes again"/);
  const t = Date.now();
  const rev = await put('/registry/rpo/after-restart', 'x');
  rpo.push(await coveredAfter(repo, base.id, rev, t));

  // Changes right before SIGTERM are stored on the way out, not lost with the interval.
  let last = 0;
  for (let i = 0; i < 5; i++) last = await put(`/registry/last/${i}`, `v${i}`);
  await sleep(100);
  run.child().kill('SIGTERM');
  const res = await run.done;
  expect(res.code, res.stderr).toBe(0);
  expect(run.log()).toMatch(/"reason":"stop","msg":"delta segment stored"/);
  expect(run.log()).toContain('lost the watch of etcd');

  const backups = (await repo.list()).backups;
  const segments = segmentsOf(backups, base.id);
  const chain = validateChain({ id: base.id, createdAt: base.createdAt, revision: base.etcd!.revision }, segments);
  expect(chain.problems).toEqual([]);
  expect(chain.coveredTo).toBe(last);
  const events: DeltaEvent[] = [];
  for (const s of segments) events.push(...(await segmentEvents(repo, s)));
  expect(events.length).toBe(200 + 50 + 40 + 3 + 1 + 4 + 100 + 30 + 1 + 5);
  expect(events.some((e) => e.lease !== undefined && e.grantedTtl === 600)).toBe(true);
  expect(await compareWithHistory(client, base.etcd!.revision, events, last)).toBeUndefined();
  // Measured, not asserted (speed is the bench's): the recovery point with a 2 s interval.
  console.log(`delta RPO with RS_DELTA_INTERVAL=2s, ms from a put until a stored segment covers it: ${rpo.join(', ')}`);
}, 180_000);

it('etcd down for many tries of the watch: one line when it is lost and one when it is back, not one per try', async () => {
  // Before: "lost the watch of etcd; resuming ..." at every try, every 2 s for as long as etcd was down.
  const store = join(work, 'quiet-while-down');
  const env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: store, RS_HTTP_PORT: '0' };
  await put('/registry/configmaps/ns/quiet', 'x');
  expect((await runCli(['backup'], env)).code).toBe(0);
  const run = startRun({ ...env, RS_DELTA_INTERVAL: '1s' });
  await run.until(/"msg":"recording changes"/);
  await run.until(/"msg":"watching etcd for changes"/);
  await etcd.kill();
  try {
    await run.until(/"msg":"lost the watch of etcd/);
    // Tries at 0.1, 0.2, 0.4, 0.8, 1.6 and then every 2 s: at least 6 in 6 s.
    await sleep(6000);
  } finally {
    await etcd.start();
  }
  await run.until(/"msg":"watching etcd for changes again"/);
  const line = run.log().split('\n').find((l) => l.includes('"msg":"watching etcd for changes again"'))!;
  const back = JSON.parse(line) as { attempts: number; downForMs: number };
  expect(back.attempts).toBeGreaterThanOrEqual(6);
  expect(back.downForMs).toBeGreaterThan(0);
  run.child().kill('SIGTERM');
  const res = await run.done;
  expect(res.code, res.stderr).toBe(0);
  expect(run.log().match(/lost the watch of etcd/g)).toHaveLength(1);
  expect(run.log().match(/watching etcd for changes again/g)).toHaveLength(1);
}, 90_000);

it('a store that fails at SIGTERM: the last changes are given up after a few attempts, and run exits 1 saying so', async () => {
  const store = join(work, 'failing-store');
  const env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: store, RS_HTTP_PORT: '0' };
  await put('/registry/configmaps/ns/before-base', 'x');
  expect((await runCli(['backup'], env)).code).toBe(0);
  const run = startRun({ ...env, RS_DELTA_INTERVAL: '1m' });
  await run.until(/"msg":"recording changes"/);
  // The cluster's folder becomes a file: every write fails (even as root, which chmod would not stop).
  await rm(join(store, 'default'), { recursive: true, force: true });
  await writeFile(join(store, 'default'), 'not a folder');
  const rev = await put('/registry/configmaps/ns/unstored', 'y');
  await sleep(300);
  run.child().kill('SIGTERM');
  const res = await run.done;
  expect(res.code).toBe(1);
  expect(res.stderr).toMatch(/could not store the last delta segment before exit/);
  expect(res.stderr).toContain(`reshifter: stopped, but continuous backups lost changes: the changes of revisions ${rev}..${rev} (1) could not be stored before exit`);
}, 60_000);

it('a first full backup longer than the interval: the start-up says the watch waits for it, and never "again"', async () => {
  // The watch starts once the chain's base is stored; a base that takes longer than RS_DELTA_INTERVAL is no lost watch.
  await loadBigValues(etcd.endpoint, 6);
  const proxy = await startTcpProxy(portOf(etcd.endpoint), { rate: 1024 * 1024 });
  try {
    const store = join(work, 'slow-first-base');
    const env = { RS_ETCD_ENDPOINTS: `http://${proxy.address}`, RS_BACKUP_DIR: store, RS_HTTP_PORT: '0', RS_DELTA_INTERVAL: '1s' };
    const repo = new BackupRepository(new LocalStore(store), 'default');
    const run = startRun(env);
    await run.until(/"msg":"watching etcd for changes( again)?"/, 60_000);
    expect(run.log()).not.toContain('watching etcd for changes again');
    expect(run.log()).toMatch(/taking one to start the chain of changes; the watch of etcd starts once it is stored/);
    const first = /"sinceStartMs":(\d+),"msg":"watching etcd for changes"/.exec(run.log());
    expect(first, run.log()).not.toBeNull();
    // The full backup took longer than an interval: what made the old start-up say 'again'.
    expect(Number(first![1])).toBeGreaterThan(1000);
    const base = (await repo.list()).backups.find((m) => !isDeltaManifest(m))!;
    const t = Date.now();
    const rev = await put('/registry/configmaps/ns/after-slow-base', 'x');
    await coveredAfter(repo, base.id, rev, t);
    run.child().kill('SIGTERM');
    const res = await run.done;
    expect(res.code, res.stderr).toBe(0);
    expect(run.log()).not.toContain('watching etcd for changes again');
    expect(run.log()).not.toContain('lost the watch of etcd');
  } finally {
    await proxy.close();
  }
}, 120_000);

it('SIGTERM while the watch of etcd is lost: the shutdown line says from which revision nothing was recorded, and the next run records it', async () => {
  // Before: 'stopped' and exit 0, and nothing said of the changes made since the watch was lost.
  const store = join(work, 'stopped-while-lost');
  const proxy = await startTcpProxy(portOf(etcd.endpoint));
  try {
    const env = { RS_ETCD_ENDPOINTS: `http://${proxy.address}`, RS_BACKUP_DIR: store, RS_HTTP_PORT: '0', RS_DELTA_INTERVAL: '1s' };
    await put('/registry/configmaps/ns/lost-base', 'x');
    expect((await runCli(['backup'], env)).code).toBe(0);
    const run = startRun(env);
    await run.until(/"msg":"watching etcd for changes"/);
    const recorded = await put('/registry/configmaps/ns/lost-recorded', 'y');
    await run.until(new RegExp(`"toRevision":${recorded},.*"msg":"delta segment stored"`));
    // The network to etcd cut: no new connection reaches it, and the watch is lost; etcd itself takes changes.
    proxy.retarget(1);
    proxy.cut();
    await run.until(/"msg":"lost the watch of etcd/);
    const unrecorded = await put('/registry/configmaps/ns/lost-unrecorded', 'z');
    run.child().kill('SIGTERM');
    const res = await run.done;
    expect(res.code, res.stderr).toBe(0);
    const last = JSON.parse(run.log().trimEnd().split('\n').at(-1)!) as { level: string; msg: string; unrecordedFromRevision: number };
    expect(last.level).toBe('warn');
    expect(last.unrecordedFromRevision).toBe(recorded + 1);
    expect(last.msg).toContain(`stopped while the watch of etcd was down`);
    expect(last.msg).toContain(`the changes from revision ${recorded + 1} on are not recorded; the next run records them from the stored chain if etcd still holds that history`);

    // As said: the next run goes on from the stored chain and records the change made while the watch was lost.
    proxy.retarget(portOf(etcd.endpoint));
    const again = startRun(env);
    await again.until(new RegExp(`"fromRevision":${recorded + 1},.*"msg":"recording changes"`));
    const repo = new BackupRepository(new LocalStore(store), 'default');
    const base = (await repo.list()).backups.find((m) => !isDeltaManifest(m))!;
    await coveredAfter(repo, base.id, unrecorded, Date.now());
    again.child().kill('SIGTERM');
    expect((await again.done).code).toBe(0);
    expect(again.log()).toMatch(/"msg":"stopped"/);
  } finally {
    await proxy.close();
  }
}, 90_000);
