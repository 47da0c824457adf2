import type { ChildProcess } from 'node:child_process';
import { access, copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Etcd3 } from 'etcd3';
import type { Manifest } from '../../src/archive/manifest.js';
import { historyOf, revisionOf, storeSegmentOf, valuesAt } from '../helpers/delta-chain.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { runCli } from '../helpers/cli.js';
import { until } from '../helpers/faults.js';
import { runInProcess } from '../helpers/in-process.js';
import { startApi } from '../helpers/api.js';
import { keyspace, values } from '../helpers/keyspace.js';

/**
 * Point-in-time restore (`restore <id>|latest --to <revision>|<time>|latest`) on real etcds: a base backup taken with
 * `backup`, then puts, updates, deletes, a transaction and leased keys in phases a second apart, recorded as delta
 * segments from etcd's own watch history. Every restored etcd must hold exactly what the source held at the target
 * revision, read with `etcdctl get --rev` (etcd's history is the oracle).
 */
const PREFIXES = ['/registry'];
let source: TestEtcd;
let work: string;
let snapshotBase: Manifest;
let dumpBase: Manifest;
/** When each revision was made (ms): what a live watch would have stamped its changes with. */
const madeAt = new Map<number, number>();
/** The last revision of each phase, and the moment between phases. */
const phaseEnd: number[] = [];
const between: number[] = [];
let latest: number;

const env = (extra: Record<string, string> = {}) => ({ RS_ETCD_ENDPOINTS: source.endpoint, RS_CLUSTER_NAME: 'pitr', RS_BACKUP_DIR: join(work, 'store'), ...extra });
const observed = (rev: number) => madeAt.get(rev) ?? Date.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts etcd on a restored data dir and checks that it holds exactly what the source held at `revision`. */
async function expectDataDirAt(dataDir: string, revision: number): Promise<void> {
  const restored = await startEtcd({ dataDir });
  try {
    expect(values(await keyspace(restored))).toEqual(await valuesAt(source, revision));
  } finally {
    await restored.stop();
  }
}

async function phase(client: Etcd3, n: number): Promise<number> {
  const note = (res: { header: { revision: string } }) => madeAt.set(Number(res.header.revision), Date.now());
  for (let i = 0; i < 30; i++) note(await client.put(`/registry/configmaps/p${n}/cm-${i}`).value(`phase ${n} value ${i}`).exec());
  for (let i = 0; i < 10; i++) note(await client.put(`/registry/configmaps/base/cm-${i}`).value(`updated in phase ${n}`).exec());
  for (let i = n * 5; i < n * 5 + 5; i++) note(await client.delete().key(`/registry/secrets/base/s-${i}`).exec());
  // Several keys changed in one revision, and a key outside the dump's prefixes.
  const put = (key: string, value: string) => ({ request_put: { key: Buffer.from(key), value: Buffer.from(value) } });
  note(await client.kv.txn({ success: [put(`/registry/pods/ns-${n}/a`, 'a'), put(`/registry/pods/ns-${n}/b`, 'b')] }));
  note(await client.put(`/outside/${n}`).value('not in the dump').exec());
  const lease = client.lease(300, { autoKeepAlive: false });
  note(await lease.put(`/registry/events/ns/e-${n}`).value('leased').exec());
  phaseEnd[n] = await revisionOf(source);
  return phaseEnd[n]!;
}

beforeAll(async () => {
  source = await startEtcd();
  work = await mkdtemp(join(tmpdir(), 'rs-pitr-'));
  const client = new Etcd3({ hosts: source.endpoint });
  for (let i = 0; i < 20; i++) await client.put(`/registry/secrets/base/s-${i}`).value(`secret ${i}`);
  for (let i = 0; i < 10; i++) await client.put(`/registry/configmaps/base/cm-${i}`).value(`base ${i}`);
  const snap = await runInProcess(['backup', '--json'], env());
  expect(snap.stderr).toBe('');
  snapshotBase = JSON.parse(snap.stdout) as Manifest;
  const dump = await runInProcess(['backup', '--json'], env({ RS_BACKUP_STRATEGY: 'raw', RS_KUBE_PREFIXES: PREFIXES.join(',') }));
  expect(dump.stderr).toBe('');
  dumpBase = JSON.parse(dump.stdout) as Manifest;
  expect(dumpBase.etcd!.revision).toBe(snapshotBase.etcd!.revision);
  for (let n = 0; n < 3; n++) {
    await sleep(1100);
    between.push(Date.now());
    await sleep(100);
    await phase(client, n);
  }
  client.close();
  latest = phaseEnd[2]!;
  // The chains: segments cut inside phase 1 and at the end of phase 0, as a recorder's intervals would.
  const from = snapshotBase.etcd!.revision + 1;
  const cuts = [phaseEnd[0]!, phaseEnd[1]! - 7, latest];
  for (const [base, prefixes] of [[snapshotBase, undefined], [dumpBase, PREFIXES]] as const) {
    const events = await historyOf(source.endpoint, from, latest, observed, prefixes ? [...prefixes] : undefined);
    let start = from;
    for (const end of cuts) {
      await storeSegmentOf(env(), { base, fromRevision: start, toRevision: end, events });
      start = end + 1;
    }
  }
}, 120_000);

afterAll(async () => {
  await Promise.all([source?.stop(), work && rm(work, { recursive: true, force: true })]);
});

describe('point-in-time restore of a snapshot chain into a new data dir', () => {
  const cases: Array<[string, () => string, () => number]> = [
    ['a revision inside a segment', () => String(phaseEnd[1]! - 12), () => phaseEnd[1]! - 12],
    ['the end of a segment', () => String(phaseEnd[0]!), () => phaseEnd[0]!],
    ['a time between two phases', () => new Date(between[2]!).toISOString(), () => phaseEnd[1]!],
    ['latest', () => 'latest', () => latest],
    ['the base revision itself', () => String(snapshotBase.etcd!.revision), () => snapshotBase.etcd!.revision],
  ];
  for (const [what, to, revision] of cases) {
    it(`restores ${what}: etcd started on the data dir holds exactly the source's keys at that revision`, async () => {
      const dataDir = join(work, `dd-${Math.random().toString(36).slice(2)}`);
      const res = await runInProcess(['restore', 'latest', '--to', to(), '--data-dir', dataDir, '--json'], env());
      expect(res.stderr).toBe('');
      const report = JSON.parse(res.stdout) as { target: { revision: number }; base: { id: string } };
      expect(report.target.revision).toBe(revision());
      expect(report.base.id).toBe(snapshotBase.id);
      const restored = await startEtcd({ dataDir });
      try {
        expect(values(await keyspace(restored))).toEqual(await valuesAt(source, revision()));
        // No leased key came back permanent.
        const leased = [...(await keyspace(restored))].filter(([k]) => Buffer.from(k, 'base64').toString().startsWith('/registry/events/'));
        expect(leased.length).toBe([...(await valuesAt(source, revision()))].filter(([k]) => Buffer.from(k, 'base64').toString().startsWith('/registry/events/')).length);
        for (const [, kv] of leased) expect(kv.lease).not.toBe('0');
      } finally {
        await restored.stop();
      }
    }, 60_000);
  }
});

describe('point-in-time restore of a key dump chain into a live etcd', () => {
  it('writes the base and the changes, deletes included, up to a revision: the etcd then holds what the source held', async () => {
    const target = await startEtcd();
    try {
      // The etcd already holds the base (a cluster rolled back to it): the changes after it must update and delete.
      const plain = await runInProcess(['restore', dumpBase.id], { ...env(), RS_ETCD_ENDPOINTS: target.endpoint });
      expect(plain.stderr).toBe('');
      const revision = phaseEnd[1]! - 3;
      const dry = await runInProcess(['restore', dumpBase.id, '--to', String(revision), '--dry-run', '--json'], { ...env(), RS_ETCD_ENDPOINTS: target.endpoint });
      expect(dry.stderr).toBe('');
      const plan = JSON.parse(dry.stdout) as { dryRun: boolean; written: number; totals: { create: number; update: number }; deletes: { deleted: number } };
      expect(plan.dryRun).toBe(true);
      expect(plan.totals.create).toBeGreaterThan(0);
      expect(plan.totals.update).toBe(10);
      expect(plan.deletes.deleted).toBe(10);
      expect(values(await keyspace(target, PREFIXES))).toEqual(await valuesAt(source, dumpBase.etcd!.revision, PREFIXES));
      const res = await runInProcess(['restore', dumpBase.id, '--to', String(revision)], { ...env(), RS_ETCD_ENDPOINTS: target.endpoint });
      expect(res.stderr).toBe('');
      expect(res.stdout).toContain(`the state at revision ${revision}`);
      expect(res.stdout).toMatch(/deleted 10 of \d+ keys the changes deleted/);
      expect(values(await keyspace(target, PREFIXES))).toEqual(await valuesAt(source, revision, PREFIXES));
    } finally {
      await target.stop();
    }
  }, 60_000);

  it('keeps its copies of the segments in the work area (RS_TMP_DIR), not the system temp folder', async () => {
    // A TMPDIR that cannot be used: every copy must go to RS_TMP_DIR (the segments' went to the system's).
    const area = await mkdtemp(join(work, 'area-'));
    const res = await runCli(['restore', dumpBase.id, '--to', String(phaseEnd[1]! - 3), '--dry-run'], env({ RS_TMP_DIR: area, TMPDIR: join(work, 'no-such-folder') }));
    expect(res.code, res.stderr).toBe(0);
    expect(await readdir(area)).toEqual([]);
  });

  for (const [what, to, revision] of [
    ['a time', () => new Date(between[1]!).toISOString(), () => phaseEnd[0]!],
    ['latest', () => 'latest', () => latest],
  ] as const) {
    it(`restores to ${what} into an empty etcd with exactly the source's keys under the dump's prefixes`, async () => {
      const target = await startEtcd();
      try {
        const res = await runInProcess(['restore', 'latest', '--to', to(), '--json'], { ...env(), RS_ETCD_ENDPOINTS: target.endpoint });
        expect(res.stderr).toBe('');
        expect((JSON.parse(res.stdout) as { point: { target: { revision: number } } }).point.target.revision).toBe(revision());
        expect(values(await keyspace(target))).toEqual(await valuesAt(source, revision(), PREFIXES));
      } finally {
        await target.stop();
      }
    }, 60_000);
  }
});

describe('point-in-time restore to a time among the changes of a segment', () => {
  it('includes the changes observed at exactly that moment', async () => {
    // A revision inside the second segment, and the moment its change was made (stamped as a watch stamps it).
    const at = observed(phaseEnd[1]! - 12);
    const expected = Math.max(...[...madeAt].filter(([, t]) => t <= at).map(([rev]) => rev));
    const res = await runInProcess(['restore', snapshotBase.id, '--keys', '--to', new Date(at).toISOString(), '--dry-run', '--json'], env());
    expect(res.code, res.stderr).toBe(0);
    expect((JSON.parse(res.stdout) as { point: { target: { revision: number } } }).point.target.revision).toBe(expected);
  });
});

describe('point-in-time restore of a snapshot chain with --keys into a live etcd', () => {
  it("writes the snapshot's keys at its manifest's revision and the changes up to the target", async () => {
    const target = await startEtcd();
    try {
      const revision = phaseEnd[2]! - 20;
      const res = await runInProcess(['restore', snapshotBase.id, '--keys', '--to', String(revision)], { ...env(), RS_ETCD_ENDPOINTS: target.endpoint });
      expect(res.stderr).toBe('');
      expect(res.stdout).toContain(`restored backup ${snapshotBase.id} (revision ${snapshotBase.etcd!.revision}) and 3 segments`);
      expect(values(await keyspace(target))).toEqual(await valuesAt(source, revision, PREFIXES));
    } finally {
      await target.stop();
    }
  }, 60_000);
});

const TOKEN = 'point-in-time-token-0123';

describe('the API', () => {
  it('lists each chain, plans a restore to a time, then restores it into etcd; a point not recorded answers 404', async () => {
    const target = await startEtcd();
    const api = await startApi({ ...env(), RS_ETCD_ENDPOINTS: target.endpoint, RS_API_TOKEN: TOKEN });
    try {
      const chains = (await (await api.call('/api/v1/chains', { token: TOKEN })).json()) as Array<{ base: { id: string }; segments: unknown[]; coveredTo: number; problems: string[] }>;
      expect(chains.map((c) => [c.base.id, c.segments.length, c.coveredTo, c.problems])).toEqual(
        expect.arrayContaining([
          [snapshotBase.id, 3, latest, []],
          [dumpBase.id, 3, latest, []],
        ]),
      );
      const to = new Date(between[2]!).toISOString();
      const body = { backupId: dumpBase.id, to };
      const plan = await api.call('/api/v1/restores', { method: 'POST', token: TOKEN, json: { ...body, dryRun: true } });
      expect(plan.status).toBe(202);
      const planned = await api.waitJob(((await plan.json()) as { id: string }).id, TOKEN);
      expect(planned.error).toBeUndefined();
      const result = planned.result as { dryRun: boolean; totals: { create: number }; point: { target: { revision: number } } };
      expect(result.dryRun).toBe(true);
      expect(result.point.target.revision).toBe(phaseEnd[1]);
      expect(values(await keyspace(target))).toEqual(new Map());
      const done = await api.waitJob(((await (await api.call('/api/v1/restores', { method: 'POST', token: TOKEN, json: body })).json()) as { id: string }).id, TOKEN);
      expect(done.state).toBe('succeeded');
      expect(values(await keyspace(target))).toEqual(await valuesAt(source, phaseEnd[1]!, PREFIXES));
      const missing = await api.call('/api/v1/restores', { method: 'POST', token: TOKEN, json: { backupId: 'latest', to: String(latest + 50), dryRun: true } });
      expect(missing.status).toBe(404);
      expect(((await missing.json()) as { error: string }).error).toContain('is beyond what was recorded');
      const bad = await api.call('/api/v1/restores', { method: 'POST', token: TOKEN, json: { backupId: 'latest', to: 'soon' } });
      expect(bad.status).toBe(400);
    } finally {
      await api.stop();
      await target.stop();
    }
  }, 60_000);
});

describe('a snapshot that holds a few revisions more than its manifest says', () => {
  // etcd 3.4's snapshot stream carries no revision: the manifest's is read just before it, and writes in between make
  // the snapshot hold more. Here a snapshot's manifest is rewritten to name a revision 10 below what it holds.
  let race: Manifest;
  let held: number;
  const raceEnv = (extra: Record<string, string> = {}) => env({ RS_CLUSTER_NAME: 'race', ...extra });

  let before: Manifest;

  beforeAll(async () => {
    // A chain before it, handed over at the revision the snapshot's manifest names (as a recorder does).
    before = JSON.parse((await runInProcess(['backup', '--json'], raceEnv())).stdout) as Manifest;
    const writer = new Etcd3({ hosts: source.endpoint });
    for (let i = 0; i < 15; i++) madeAt.set(Number((await writer.put(`/registry/configmaps/race/cm-${i}`).value(`race ${i}`).exec()).header.revision), Date.now());
    writer.close();
    const res = await runInProcess(['backup', '--json'], raceEnv());
    expect(res.stderr).toBe('');
    race = JSON.parse(res.stdout) as Manifest;
    held = race.etcd!.revision;
    expect(held).toBe(before.etcd!.revision + 15);
    await storeSegmentOf(raceEnv(), { base: before, fromRevision: before.etcd!.revision + 1, toRevision: held - 10, events: await historyOf(source.endpoint, before.etcd!.revision + 1, held - 10, observed) });
    race.etcd!.revision = held - 10;
    await writeFile(join(work, 'store', 'race', `${race.id}.manifest.json`), `${JSON.stringify(race, null, 2)}\n`);
    const client = new Etcd3({ hosts: source.endpoint });
    await phase(client, 3);
    client.close();
    const events = await historyOf(source.endpoint, held - 9, phaseEnd[3]!, observed);
    await storeSegmentOf(raceEnv(), { base: race, fromRevision: held - 9, toRevision: held + 20, events });
    await storeSegmentOf(raceEnv(), { base: race, fromRevision: held + 21, toRevision: phaseEnd[3]!, events });
    expect(JSON.parse(await readFile(join(work, 'store', 'race', `${race.id}.manifest.json`), 'utf8')).etcd.revision).toBe(held - 10);
  }, 60_000);

  it('skips the recorded changes the snapshot already holds and restores the target exactly', async () => {
    const revision = phaseEnd[3]! - 4;
    const dataDir = join(work, 'race-dd');
    const res = await runInProcess(['restore', race.id, '--to', String(revision), '--data-dir', dataDir, '--json'], raceEnv());
    expect(res.stderr).toBe('');
    const report = JSON.parse(res.stdout) as { base: { revision: number; restoredRevision: number } };
    expect(report.base).toEqual({ id: race.id, revision: held - 10, restoredRevision: held });
    await expectDataDirAt(dataDir, revision);
  }, 60_000);

  it('reaches a target between the two from the chain before it, through the segments of this one', async () => {
    const revision = held - 5;
    const dataDir = join(work, 'race-through');
    const res = await runInProcess(['restore', 'latest', '--to', String(revision), '--data-dir', dataDir, '--json'], raceEnv());
    expect(res.code, res.stderr).toBe(0);
    const report = JSON.parse(res.stdout) as { base: { id: string }; target: { revision: number } };
    expect(report.base.id).toBe(before.id);
    expect(report.target.revision).toBe(revision);
    await expectDataDirAt(dataDir, revision);
  }, 60_000);

  it('refuses a target between the revision the manifest names and the one the snapshot holds, saying so', async () => {
    const res = await runInProcess(['restore', race.id, '--to', String(held - 5), '--data-dir', join(work, 'race-never')], raceEnv());
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`snapshot ${race.id} holds revision ${held}, past the target revision ${held - 5}`);
  }, 60_000);
});

describe('an encrypted chain, and a damaged segment', () => {
  const PASS = 'correct horse battery staple';
  const sealed = (extra: Record<string, string> = {}) => env({ RS_CLUSTER_NAME: 'sealed', RS_ENCRYPTION_PASSPHRASE: PASS, ...extra });
  let baseOf: Manifest;
  let segments: Manifest[];

  beforeAll(async () => {
    const res = await runInProcess(['backup', '--json'], sealed());
    expect(res.stderr).toBe('');
    baseOf = JSON.parse(res.stdout) as Manifest;
    expect(baseOf.encryption).toBe('age');
    const client = new Etcd3({ hosts: source.endpoint });
    await phase(client, 4);
    client.close();
    const events = await historyOf(source.endpoint, baseOf.etcd!.revision + 1, phaseEnd[4]!, observed);
    const mid = baseOf.etcd!.revision + 20;
    segments = [
      await storeSegmentOf(sealed(), { base: baseOf, fromRevision: baseOf.etcd!.revision + 1, toRevision: mid, events }),
      await storeSegmentOf(sealed(), { base: baseOf, fromRevision: mid + 1, toRevision: phaseEnd[4]!, events }),
    ];
    expect(segments.map((m) => m.encryption)).toEqual(['age', 'age']);
  }, 60_000);

  it('restores an encrypted chain with the passphrase, and says what to set without it', async () => {
    const revision = phaseEnd[4]! - 2;
    const dataDir = join(work, 'sealed-dd');
    const res = await runInProcess(['restore', 'latest', '--to', String(revision), '--data-dir', dataDir], sealed());
    expect(res.stderr).toBe('');
    await expectDataDirAt(dataDir, revision);
    const noPassphrase: Record<string, string> = sealed();
    delete noPassphrase.RS_ENCRYPTION_PASSPHRASE;
    const without = await runInProcess(['restore', 'latest', '--to', String(revision), '--data-dir', join(work, 'sealed-never')], noPassphrase);
    // A key missing is a setting missing.
    expect(without.code).toBe(2);
    expect(without.stderr).toContain('encrypted with age: it was encrypted with a passphrase: set RS_ENCRYPTION_PASSPHRASE');
  }, 60_000);

  it('refuses a damaged segment before writing anything: no data dir, no key in the etcd', async () => {
    const file = join(work, 'store', 'sealed', segments[1]!.artifact);
    const bytes = await readFile(file);
    bytes[bytes.length >> 1] ^= 0xff;
    await writeFile(file, bytes);
    const dataDir = join(work, 'sealed-damaged');
    const res = await runInProcess(['restore', 'latest', '--to', 'latest', '--data-dir', dataDir], sealed());
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`backup ${segments[1]!.id}'s stored bytes hash to`);
    await expect(access(dataDir)).rejects.toThrow();
    const target = await startEtcd();
    try {
      const keys = await runInProcess(['restore', 'latest', '--keys', '--to', 'latest'], { ...sealed(), RS_ETCD_ENDPOINTS: target.endpoint });
      expect(keys.code).toBe(1);
      expect(keys.stderr).toContain(`backup ${segments[1]!.id}'s stored bytes hash to`);
      expect(values(await keyspace(target))).toEqual(new Map());
    } finally {
      await target.stop();
    }
  }, 60_000);
});

describe("a newer segment's manifest that cannot be read", () => {
  it('refuses --to latest, naming the manifest and the revision it would have restored, before writing anything', async () => {
    const cut = (extra: Record<string, string> = {}) => env({ RS_CLUSTER_NAME: 'cut', ...extra });
    const made = await runInProcess(['backup', '--json'], cut());
    expect(made.stderr).toBe('');
    const base = JSON.parse(made.stdout) as Manifest;
    const client = new Etcd3({ hosts: source.endpoint });
    await phase(client, 5);
    client.close();
    const events = await historyOf(source.endpoint, base.etcd!.revision + 1, phaseEnd[5]!, observed);
    const mid = base.etcd!.revision + 20;
    const segments = [
      await storeSegmentOf(cut(), { base, fromRevision: base.etcd!.revision + 1, toRevision: mid, events }),
      await storeSegmentOf(cut(), { base, fromRevision: mid + 1, toRevision: phaseEnd[5]!, events }),
    ];
    await writeFile(join(work, 'store', 'cut', `${segments[1]!.id}.manifest.json`), '{"cut short');
    const dataDir = join(work, 'cut-dd');
    const res = await runInProcess(['restore', 'latest', '--to', 'latest', '--data-dir', dataDir], cut());
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(
      `--to latest would restore revision ${mid} (backup ${segments[0]!.id}), but the manifest of a newer backup cannot be read: cut/${segments[1]!.id}.manifest.json (`,
    );
    expect(res.stderr).toContain(`Give --to ${mid} to restore that`);
    await expect(access(dataDir)).rejects.toThrow();
  }, 60_000);
});

describe('segments of two recorders at once (a rolling update of run)', () => {
  it('restores through repeated and overlapping segments exactly, and verify --chain notes them', async () => {
    // The same base in a store of its own, then the history cut twice: as two recorders with different intervals.
    const store2 = join(work, 'store-two-recorders');
    await mkdir(join(store2, 'pitr'), { recursive: true });
    for (const f of [snapshotBase.artifact, `${snapshotBase.id}.manifest.json`]) await copyFile(join(work, 'store', 'pitr', f), join(store2, 'pitr', f));
    const env2 = () => ({ ...env(), RS_BACKUP_DIR: store2 });
    const from = snapshotBase.etcd!.revision + 1;
    const events = await historyOf(source.endpoint, from, latest, observed);
    const mid = phaseEnd[1]!;
    for (const [a, b] of [[from, phaseEnd[0]!], [phaseEnd[0]! + 1, mid], [from, phaseEnd[0]!], [phaseEnd[0]! - 3, mid + 5], [mid + 1, latest]] as const) {
      await storeSegmentOf(env2(), { base: snapshotBase, fromRevision: a, toRevision: b, events });
    }
    const verified = await runInProcess(['verify', snapshotBase.id, '--chain'], env2());
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    expect(verified.stdout).toMatch(/note\tchain\tsegment .* repeats revisions/);
    expect(verified.stdout).toMatch(/note\tchain\tsegment .* starts at revision .* \(two recorders at once\?\): used from/);
    expect(verified.stdout).toContain(`revisions up to ${latest} restorable`);
    // Without --keys or --data-dir, `latest` reads key dumps, which this store has none of: said, with the way there.
    const keysForm = await runInProcess(['restore', 'latest', '--to', String(latest), '--dry-run'], env2());
    expect(keysForm.code).toBe(1);
    expect(keysForm.stderr).toContain('a snapshot chain covers it: restore its keys with --keys, or into a new data dir with --data-dir');
    for (const target of [latest, mid + 2]) {
      const dataDir = join(work, `two-${target}`);
      const res = await runInProcess(['restore', 'latest', '--to', String(target), '--data-dir', dataDir, '--json'], env2());
      expect(res.code, res.stderr).toBe(0);
      await expectDataDirAt(dataDir, target);
    }
  }, 90_000);
});

/**
 * Pids of the temporary etcd of a restore and of its guard (`etcdOnly`: of the etcd alone) whose command line mentions
 * `text` (from /proc, as `pgrep -f` reads it).
 */
async function pidsMentioning(text: string, etcdOnly = false): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'latin1').catch(() => '');
    // The temporary etcd itself, serving (not `etcdctl snapshot restore`, which makes its data dir first), or its guard.
    if (cmdline.includes(text) && (cmdline.includes('--listen-client-urls') || (!etcdOnly && cmdline.includes('reshifter-replay-guard')))) pids.push(Number(entry));
  }
  return pids;
}

describe('a point-in-time restore killed outright (SIGKILL, OOM)', () => {
  it('leaves no temporary etcd serving the backup and no decrypted copy: its guard stops the one and removes the other', async () => {
    const area = await mkdtemp(join(work, 'area-'));
    let child: ChildProcess | undefined;
    const restore = runCli(['restore', 'latest', '--to', 'latest', '--data-dir', join(work, 'killed')], env({ RS_TMP_DIR: area }), {
      onStart: (c) => (child = c),
    });
    await until(async () => (await pidsMentioning(area)).length >= 2, 'the temporary etcd of the restore and its guard to start', 30_000);
    // Held where it is at once: a restore left to run (a short replay on a quiet machine) could stop its etcd and tell
    // its guard so before the kill, and the case would be another one (killed after its etcd stopped).
    child!.kill('SIGSTOP');
    expect(await pidsMentioning(area, true), 'the temporary etcd still runs when the restore is killed').toHaveLength(1);
    // The restore's own folder: the one its temporary etcd runs in (others hold the downloaded base and segments).
    let replayDir: string | undefined;
    for (const name of await readdir(area)) if ((await readdir(join(area, name)).catch(() => [] as string[])).includes('replay')) replayDir = name;
    expect(replayDir).toBeDefined();
    child!.kill('SIGKILL');
    expect((await restore).signal).toBe('SIGKILL');
    // The guard stops the temporary etcd (which served every key without auth) and removes the folder it ran in.
    await until(async () => (await pidsMentioning(area)).length === 0, 'the temporary etcd to be stopped', 20_000);
    await until(async () => !(await readdir(area)).includes(replayDir!), 'the replay folder to be removed', 20_000);
    await expect(access(join(work, 'killed'))).rejects.toThrow();
    // Whatever else the killed restore had staged (the downloaded segments) goes with the next command that stages a
    // backup in the work area: its owner no longer runs.
    const next = await runInProcess(['inspect', snapshotBase.id], env({ RS_TMP_DIR: area }));
    expect(next.code, next.stderr).toBe(0);
    expect(await readdir(area)).toEqual([]);
  });
});

describe('a point-in-time restore stopped by Ctrl-C', () => {
  it('stops at once saying so, even when the terminal stopped its temporary etcd as it started', async () => {
    const area = await mkdtemp(join(work, 'ctrl-c-'));
    let child: ChildProcess | undefined;
    const restore = runCli(['restore', 'latest', '--to', 'latest', '--data-dir', join(work, 'ctrl-c')], env({ RS_TMP_DIR: area }), {
      onStart: (c) => (child = c),
      timeoutMs: 40_000,
    });
    let etcd: number | undefined;
    await until(async () => (etcd = (await pidsMentioning(area, true))[0]) !== undefined, 'the temporary etcd of the restore to start', 30_000);
    // A terminal's Ctrl-C goes to the whole process group: the temporary etcd dies of it too, while it starts.
    process.kill(etcd!, 'SIGINT');
    child!.kill('SIGINT');
    const stoppedAt = Date.now();
    const res = await restore;
    // Before: the restore waited out the 60 s start-up deadline of an etcd already gone, then blamed it.
    expect(Date.now() - stoppedAt).toBeLessThan(10_000);
    expect(res.code).toBe(1);
    // Where the signal lands depends on the machine's load: while the temporary etcd starts or replays (the case this
    // test is for), or, on a busy machine, once the replay is done and etcdctl writes the data directory.
    expect(res.stderr).toMatch(/(restore to latest stopped: received SIGINT; --data-dir was not written|etcdctl snapshot restore into \S+ stopped: received SIGINT; \S+ was not created)/);
    expect(res.stderr).not.toContain('temporary etcd of the restore');
    await expect(access(join(work, 'ctrl-c'))).rejects.toThrow();
  }, 60_000);
});

describe('targets the store does not hold', () => {
  it('fails with exit 1 naming the revisions recorded, for a revision beyond them and a time before the base', async () => {
    const beyond = await runInProcess(['restore', 'latest', '--to', String(latest + 100), '--data-dir', join(work, 'never')], env());
    expect(beyond.code).toBe(1);
    expect(beyond.stderr).toContain(`no chain of backups covers revision ${latest + 100}: the store holds revisions ${snapshotBase.etcd!.revision}..${latest}`);
    expect(beyond.stderr).toContain('is beyond what was recorded');
    const before = await runInProcess(['restore', 'latest', '--to', '2020-01-01T00:00:00Z'], env());
    expect(before.code).toBe(1);
    expect(before.stderr).toContain(`nothing was recorded at or before 2020-01-01T00:00:00.000Z: the oldest full backup is ${dumpBase.id}`);
    const bad = await runInProcess(['restore', 'latest', '--to', 'yesterday'], env());
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--to was invalid');
  });
});

describe('a delta segment given as the backup to restore', () => {
  // `list` shows segments first (they are the newest): an operator in a recovery gives one as the id. It is restored
  // only with its chain, so the refusal names the base and the --to that restores the state the segment reaches.
  it('is refused naming its base and the restore of its chain to the revision it reaches', async () => {
    const listed = await runInProcess(['list', '--json'], env());
    const segment = (JSON.parse(listed.stdout) as (Manifest & { base?: string; toRevision?: number })[]).find((m) => m.strategy === 'delta' && m.base === snapshotBase.id)!;
    const res = await runInProcess(['restore', segment.id, '--data-dir', join(work, 'from-segment'), '--name', 'm1', '--initial-cluster', 'm1=http://127.0.0.1:2380', '--initial-advertise-peer-urls', 'http://127.0.0.1:2380'], env());
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`backup ${segment.id} is a delta segment of the chain of ${snapshotBase.id}`);
    expect(res.stderr).toContain(`reshifter restore ${snapshotBase.id} --to ${segment.toRevision}" with the same options`);
    await expect(access(join(work, 'from-segment'))).rejects.toThrow();
    const keys = await runInProcess(['restore', segment.id, '--dry-run'], env());
    expect(keys.code).toBe(1);
    expect(keys.stderr).toContain(`reshifter restore ${snapshotBase.id} --to ${segment.toRevision}" with the same options`);
    // With --to, the refusal names the same base and that --to.
    const point = await runInProcess(['restore', segment.id, '--to', 'latest', '--dry-run'], env());
    expect(point.code).toBe(1);
    expect(point.stderr).toContain(`is a delta segment of the chain of ${snapshotBase.id}`);
    expect(point.stderr).toContain(`reshifter restore ${snapshotBase.id} --to latest" with the same options`);
  });
});
