import { Etcd3 } from 'etcd3';
import { expect, it } from 'vitest';
import { isDeltaManifest, type Manifest } from '../../../src/archive/manifest.js';
import { validateChain } from '../../../src/core/delta-chain.js';
import type { DeltaEvent } from '../../../src/core/delta-event.js';
import { startRun } from '../../helpers/background-run.js';
import { runCli } from '../../helpers/cli.js';
import { moveAhead } from '../../helpers/clock-ahead.js';
import { deltaFixture } from '../../helpers/delta-fixture.js';
import { compareWithHistory, segmentEvents, segmentsOf } from '../../helpers/delta-history.js';
import { startEtcd } from '../../helpers/etcd.js';
import { portOf } from '../../helpers/faults.js';
import { startTcpProxy } from '../../helpers/tcp-proxy.js';

const f = deltaFixture('rs-delta-chains-');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const count = (text: string, re: RegExp) => (text.match(re) ?? []).length;

it('takes a full backup when the store has none, and each scheduled one ends the chain at exactly its revision', async () => {
  const { env, repo } = f.store('scheduled');
  const first = (await f.client.put('/registry/start').value('0').exec()).header.revision;
  const run = startRun({ ...env, RS_DELTA_INTERVAL: '1s', RS_SCHEDULE: '*/4 * * * * *' });
  await run.until(/"msg":"recording changes"/);
  expect(run.log()).toMatch(/no full backup of series \\"snapshot\\" \(the strategy of run: RS_BACKUP_STRATEGY is unset\) of cluster \\"default\\" in .* yet: taking one to start the chain of changes/);
  // Changes all the time, also while the scheduled backups run.
  let writing = true;
  let last = Number(first);
  const writer = (async () => {
    for (let i = 0; writing; i++) {
      last = Number((await f.client.put(`/registry/busy/${i % 40}`).value(`v${i}`).exec()).header.revision);
      await sleep(15);
    }
  })();
  while (count(run.log(), /"msg":"backup completed"/g) < 3) await sleep(100);
  writing = false;
  await writer;
  await sleep(200);
  run.child().kill('SIGTERM');
  const res = await run.done;
  expect(res.code, res.stderr).toBe(0);

  const backups = (await repo.list()).backups;
  // Two full backups can hold the same revision (the first scheduled one, then the recorder's own before any write):
  // the older of them is first, its chain empty; the chain goes on from the newer.
  const bases = backups
    .filter((m) => !isDeltaManifest(m))
    .sort((a, b) => a.etcd!.revision - b.etcd!.revision || (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0));
  expect(bases.length).toBeGreaterThanOrEqual(3);
  const events: DeltaEvent[] = [];
  for (const [i, base] of bases.entries()) {
    const chain = validateChain({ id: base.id, createdAt: base.createdAt, revision: base.etcd!.revision }, segmentsOf(backups, base.id));
    expect(chain.problems).toEqual([]);
    // Each chain ends where the next full backup's revision is: no overlap, no gap.
    expect(chain.coveredTo, `chain ${i} of ${bases.length}: ${res.stderr}`).toBe(i + 1 < bases.length ? bases[i + 1]!.etcd!.revision : last);
    for (const s of chain.covered) events.push(...(await segmentEvents(repo, s)));
  }
  expect(await compareWithHistory(f.client, bases[0]!.etcd!.revision, events, last)).toBeUndefined();
}, 120_000);

it('takes a full backup at once when etcd compacted past the revision the chain had reached, and says why', async () => {
  const { env, repo } = f.store('compacted', { RS_DELTA_INTERVAL: '1s' });
  const base = JSON.parse((await runCli(['backup', '--json'], env)).stdout) as Manifest;
  const first = startRun(env);
  await first.until(/"msg":"recording changes"/);
  const rev = Number((await f.client.put('/registry/one').value('1').exec()).header.revision);
  await first.until(/"msg":"delta segment stored"/);
  first.child().kill('SIGTERM');
  expect((await first.done).code).toBe(0);
  // While nothing records: changes, and a compaction of their history.
  let compactAt = rev;
  for (let i = 0; i < 10; i++) compactAt = Number((await f.client.put(`/registry/gone/${i}`).value('x').exec()).header.revision);
  await f.etcd.ctl(['compaction', String(compactAt)]);

  const second = startRun(env);
  await second.until(/"msg":"recording changes".*\n(.*\n)*.*"msg":"recording changes"/);
  const after = Number((await f.client.put('/registry/after').value('2').exec()).header.revision);
  await second.until(new RegExp(`"toRevision":${after},`));
  second.child().kill('SIGTERM');
  expect((await second.done).code).toBe(0);
  const log = second.log();
  expect(log).toMatch(/"msg":"the chain of changes cannot go on without a gap: taking a full backup at once"/);
  expect(log).toMatch(new RegExp(`has compacted its history up to revision ${compactAt}`));

  const backups = (await repo.list()).backups;
  // Two full backups can hold the same revision (the first scheduled one, then the recorder's own before any write):
  // the older of them is first, its chain empty; the chain goes on from the newer.
  const bases = backups
    .filter((m) => !isDeltaManifest(m))
    .sort((a, b) => a.etcd!.revision - b.etcd!.revision || (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0));
  expect(bases.map((b) => b.id)[0]).toBe(base.id);
  expect(bases).toHaveLength(2);
  expect(bases[1]!.etcd!.revision).toBeGreaterThanOrEqual(compactAt);
  const newChain = validateChain({ id: bases[1]!.id, createdAt: bases[1]!.createdAt, revision: bases[1]!.etcd!.revision }, segmentsOf(backups, bases[1]!.id));
  expect(newChain.problems).toEqual([]);
  expect(newChain.coveredTo).toBe(after);
  // The old chain stays as it was: up to the revision recorded before the stop.
  expect(validateChain({ id: base.id, createdAt: base.createdAt, revision: base.etcd!.revision }, segmentsOf(backups, base.id)).coveredTo).toBe(rev);
}, 120_000);

it('records only the prefixes of a key-dump base, exactly as etcd has them there', async () => {
  const { env, repo } = f.store('raw', { RS_BACKUP_STRATEGY: 'raw', RS_KUBE_PREFIXES: '/registry' });
  const base = JSON.parse((await runCli(['backup', '--json'], env)).stdout) as Manifest;
  expect(base.prefixes).toEqual(['/registry']);
  const run = startRun({ ...env, RS_DELTA_INTERVAL: '1s' });
  await run.until(/"msg":"recording changes"/);
  let last = 0;
  for (let i = 0; i < 60; i++) {
    await f.client.put(`/other/${i}`).value('not recorded').exec();
    last = Number((await f.client.put(`/registry/secrets/ns/s-${i}`).value(`v${i}`).exec()).header.revision);
    if (i % 3 === 0) last = Number((await f.client.delete().key(`/registry/secrets/ns/s-${i}`).exec()).header.revision);
  }
  await f.client.put('/registryfoo/x').value('outside the prefix').exec();
  await run.until(new RegExp(`"toRevision":${last},`));
  run.child().kill('SIGTERM');
  expect((await run.done).code).toBe(0);
  const segments = segmentsOf((await repo.list()).backups, base.id);
  expect(segments.every((s) => JSON.stringify(s.prefixes) === '["/registry"]')).toBe(true);
  const events: DeltaEvent[] = [];
  for (const s of segments) events.push(...(await segmentEvents(repo, s)));
  expect(events).toHaveLength(80);
  expect(events.every((e) => e.key.toString().startsWith('/registry/'))).toBe(true);
  expect(await compareWithHistory(f.client, base.etcd!.revision, events, last, '/registry/')).toBeUndefined();
}, 60_000);

it('goes on with the chain of the newest full backup by id, not of one stamped by a clock that was ahead', async () => {
  // A full backup taken by a machine whose clock was a day ahead, then one taken here: its id follows the other's, its
  // createdAt is this clock's. It holds the newer data, `latest` reads it and retention keeps its chain as the one
  // being recorded: a recorder that went on after the other would see that chain deleted under it (KEEP_LAST=1).
  const { env, local, repo } = f.store('clock-ahead', { RS_BACKUP_STRATEGY: 'snapshot' });
  await f.client.put('/registry/clock/before').value('1').exec();
  const first = JSON.parse((await runCli(['backup', '--json'], env)).stdout) as Manifest;
  const ahead = await moveAhead(local, first, 24 * 3_600_000);
  await f.client.put('/registry/clock/between').value('2').exec();
  const newest = JSON.parse((await runCli(['backup', '--json'], env)).stdout) as Manifest;
  expect(newest.id > ahead.id && newest.createdAt < ahead.createdAt && newest.etcd!.revision > ahead.etcd!.revision).toBe(true);

  const run = startRun({ ...env, RS_DELTA_INTERVAL: '1s' });
  await run.until(/"msg":"recording changes"/);
  expect(run.log()).toContain(`"base":"${newest.id}","baseRevision":${newest.etcd!.revision}`);
  const rev = Number((await f.client.put('/registry/clock/after').value('3').exec()).header.revision);
  await run.until(new RegExp(`"toRevision":${rev},`));
  run.child().kill('SIGTERM');
  expect((await run.done).code).toBe(0);

  const segments = segmentsOf((await repo.list()).backups, newest.id);
  expect(validateChain({ id: newest.id, createdAt: newest.createdAt, revision: newest.etcd!.revision }, segments).coveredTo).toBe(rev);
  expect(segmentsOf((await repo.list()).backups, ahead.id)).toEqual([]);
  const plan = JSON.parse((await runCli(['prune', '--dry-run', '--json'], { ...env, RS_RETENTION_KEEP_LAST: '1' })).stdout) as { deleted: string[]; kept: string[] };
  expect(plan.deleted).toEqual([ahead.id]);
  expect(plan.kept).toEqual(expect.arrayContaining([newest.id, ...segments.map((s) => s.id)]));
}, 60_000);

it('a key dump of two prefixes (each watched on its own): each scheduled full backup ends the chain at exactly its revision', async () => {
  const { env, repo } = f.store('two-prefixes', { RS_BACKUP_STRATEGY: 'raw', RS_KUBE_PREFIXES: '/kubernetes.io,/registry' });
  const expected: string[] = [];
  const note = (rev: string | number, key: string, value: string) => expected.push(`${rev} ${key}=${value}`);
  const run = startRun({ ...env, RS_DELTA_INTERVAL: '1s', RS_SCHEDULE: '*/3 * * * * *' });
  await run.until(/"msg":"watching etcd for changes"/);
  // Changes under both prefixes (one of them quiet for a while), also while the scheduled backups run.
  let last = 0;
  for (let i = 0; count(run.log(), /"msg":"backup completed"/g) < 3; i++) {
    const key = i % 5 === 0 ? `/kubernetes.io/leases/l${i % 7}` : `/registry/pods/two/p${i % 11}`;
    last = Number((await f.client.put(key).value(`v${i}`).exec()).header.revision);
    note(last, key, `v${i}`);
    await f.client.put(`/other/${i}`).value('not recorded').exec();
    await sleep(20);
  }
  // The last chain has begun (its watch confirms the chain before it closed at its base, two progress notifications a
  // while apart when a prefix is quiet): a stop before that ends the recording at that base, and the last changes
  // are recorded by the next run, which watches from there (CI stopped one 200 ms after the third backup).
  const chainsBegun = () => [...run.log().matchAll(/"baseRevision":(\d+),"fromRevision":\d+,"msg":"recording changes"/g)].length;
  for (let waited = 0; chainsBegun() < 3 && waited < 20_000; waited += 50) await sleep(50);
  await sleep(200);
  run.child().kill('SIGTERM');
  const res = await run.done;
  expect(res.code, res.stderr).toBe(0);

  const backups = (await repo.list()).backups;
  const bases = backups.filter((m) => !isDeltaManifest(m)).sort((a, b) => a.etcd!.revision - b.etcd!.revision || (a.createdAt < b.createdAt ? -1 : 1));
  expect(bases.length).toBeGreaterThanOrEqual(3);
  const recorded: string[] = [];
  for (const [i, base] of bases.entries()) {
    expect(base.prefixes).toEqual(['/kubernetes.io', '/registry']);
    const chain = validateChain({ id: base.id, createdAt: base.createdAt, revision: base.etcd!.revision }, segmentsOf(backups, base.id));
    expect(chain.problems).toEqual([]);
    // The last chain ends at the test's last change, or at its own base when that backup came after it (a write
    // outside the prefixes moved the revision on) and the stop came before a change was recorded onto it.
    expect(chain.coveredTo, `chain ${i} of ${bases.length}: ${res.stderr}`).toBe(i + 1 < bases.length ? bases[i + 1]!.etcd!.revision : Math.max(last, base.etcd!.revision));
    for (const seg of chain.covered) for (const e of await segmentEvents(repo, seg)) recorded.push(`${e.modRevision} ${e.key.toString()}=${e.value.toString()}`);
  }
  expect(recorded).toEqual(expected.filter((line) => Number(line.split(' ')[0]) > bases[0]!.etcd!.revision));
}, 120_000);

it('pauses, growing, when the watch breaks again right after each fresh full backup, and says what fails', async () => {
  // An etcd that compacts its history as fast as it changes, reached through a proxy that slows requests: every watch
  // from a fresh full backup's revision + 1 finds that revision compacted. Before: a full backup after another,
  // without a pause (29 in six seconds here without the proxy).
  const churn = await startEtcd();
  const proxy = await startTcpProxy(portOf(churn.endpoint), { rateUp: 2000 });
  const churnClient = new Etcd3({ hosts: churn.endpoint });
  let writing = true;
  let latest = '1';
  const writers = [0, 1, 2, 3].map(async (w) => {
    for (let i = 0; writing; i++) latest = (await churnClient.put(`/registry/churn/${w}-${i % 10}`).value(`v${i}`).exec()).header.revision;
  });
  const compactor = (async () => {
    while (writing) await churnClient.kv.compact({ revision: latest }).catch(() => sleep(1));
  })();
  try {
    const run = startRun({ RS_ETCD_ENDPOINTS: `http://${proxy.address}`, RS_BACKUP_DIR: f.store('churn').dir, RS_HTTP_PORT: '0', RS_DELTA_INTERVAL: '1s' });
    await run.until(/"msg":"the watch of changes fails again right after a fresh full backup.*\n(.*\n)*.*"msg":"the watch of changes fails again right after/, 20_000);
    run.child().kill('SIGTERM');
    const res = await run.done;
    expect(res.code, res.stderr).toBe(0);
    const pauses = res.stderr.split('\n').filter((l) => l.includes('"msg":"the watch of changes fails again right after a fresh full backup: continuous backups wait before the next one"'));
    expect(pauses[0]).toMatch(/"err":"the recording of changes cannot go on from revision \d+: etcd at .* has compacted its history.*"retryInMs":1000,/);
    expect(pauses[1]).toMatch(/"retryInMs":2000,/);
  } finally {
    writing = false;
    await Promise.all([...writers, compactor]);
    churnClient.close();
    await proxy.close();
    await churn.stop();
  }
}, 60_000);

it('a restart goes on with the chain written last, not with a full backup stored while that chain was recorded', async () => {
  // Another job's full backup of run's series lands while run records onto the first one; segments of that chain are
  // written after it, and run stops before its look in the store for other jobs' backups (every 10 intervals). The
  // chain written last is the first one's: the next run goes on with it, from where it stopped, and does not start a
  // chain from the other job's backup, which would leave the changes recorded after it on a chain nothing goes on with.
  const { env, repo } = f.store('written-last', { RS_BACKUP_STRATEGY: 'snapshot', RS_DELTA_INTERVAL: '1s' });
  await f.put('/registry/written-last/a', '1');
  const base = await f.backup(env, 'snapshot');
  const first = startRun(env);
  await first.until(/"msg":"recording changes"/);
  expect(first.log()).toContain(`"base":"${base.id}"`);
  const other = await f.backup(env, 'snapshot');
  expect(other.id > base.id && other.etcd!.revision >= base.etcd!.revision).toBe(true);
  const rev = await f.put('/registry/written-last/a', '2');
  await first.until(new RegExp(`"toRevision":${rev},`));
  first.child().kill('SIGTERM');
  expect((await first.done).code).toBe(0);
  expect(first.log()).not.toContain('another job stored a full backup');
  const written = segmentsOf((await repo.list()).backups, base.id);
  expect(written.some((s) => s.id > other.id && s.toRevision === rev)).toBe(true);

  const second = startRun(env);
  await second.until(/"msg":"recording changes"/);
  expect(second.log()).toContain(`"base":"${base.id}","baseRevision":${base.etcd!.revision},"fromRevision":${rev + 1}`);
  const after = await f.put('/registry/written-last/a', '3');
  await second.until(new RegExp(`"toRevision":${after},`));
  second.child().kill('SIGTERM');
  expect((await second.done).code).toBe(0);
  const chain = validateChain({ id: base.id, createdAt: base.createdAt, revision: base.etcd!.revision }, segmentsOf((await repo.list()).backups, base.id));
  expect(chain.problems).toEqual([]);
  expect(chain.coveredTo).toBe(after);
  expect(segmentsOf((await repo.list()).backups, other.id)).toEqual([]);
}, 60_000);
