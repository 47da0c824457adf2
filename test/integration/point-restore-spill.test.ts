import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Etcd3 } from 'etcd3';
import type { Manifest } from '../../src/archive/manifest.js';
import { changeIndexTuning } from '../../src/ops/restore-point-keys.js';
import { historyOf, revisionOf, storeSegmentOf, valuesAt } from '../helpers/delta-chain.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { runInProcess } from '../helpers/in-process.js';
import { keyspace, values } from '../helpers/keyspace.js';

/**
 * `restore <id> --to <point> [--keys]` into a live etcd held one entry per changed key in memory, for the whole
 * restore: a day of recorded changes to a big cluster is millions of keys. The index of the changes now holds at most
 * a set number of entries and spills the rest to sorted runs in the work area. Here with a limit of 16 entries, on
 * real recorded changes (new keys, updates, deletes, a transaction, keys updated many times): the restored etcd must
 * hold exactly what the source held at the target, and no index held more than 16 entries at once.
 */
const PREFIXES = ['/registry'];
const LIMIT = 16;
let source: TestEtcd;
let work: string;
let dumpBase: Manifest;
let snapshotBase: Manifest;
let latest: number;
let middle: number;
const held: Array<{ finals: number; puts: number; runs: number }> = [];

const env = (extra: Record<string, string> = {}) => ({ RS_ETCD_ENDPOINTS: source.endpoint, RS_CLUSTER_NAME: 'spill', RS_BACKUP_DIR: join(work, 'store'), ...extra });

beforeAll(async () => {
  source = await startEtcd();
  work = await mkdtemp(join(tmpdir(), 'rs-pitr-spill-'));
  const client = new Etcd3({ hosts: source.endpoint });
  try {
    for (let i = 0; i < 40; i++) await client.put(`/registry/configmaps/base/cm-${String(i).padStart(2, '0')}`).value(`base ${i}`);
    snapshotBase = JSON.parse((await runInProcess(['backup', '--json'], env())).stdout) as Manifest;
    dumpBase = JSON.parse((await runInProcess(['backup', '--json'], env({ RS_BACKUP_STRATEGY: 'raw', RS_KUBE_PREFIXES: PREFIXES.join(',') }))).stdout) as Manifest;
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 60; i++) await client.put(`/registry/secrets/ns-${i % 7}/s-${String(i).padStart(3, '0')}`).value(`round ${round} value ${i}`);
      for (let i = round; i < 40; i += 3) await client.put(`/registry/configmaps/base/cm-${String(i).padStart(2, '0')}`).value(`updated in round ${round}`);
      for (let i = round * 4; i < round * 4 + 4; i++) await client.delete().key(`/registry/configmaps/base/cm-${String(i).padStart(2, '0')}`);
      for (let i = round * 5; i < round * 5 + 5; i++) await client.delete().key(`/registry/secrets/ns-${i % 7}/s-${String(i).padStart(3, '0')}`);
      const put = (key: string) => ({ request_put: { key: Buffer.from(key), value: Buffer.from(`txn ${round}`) } });
      await client.kv.txn({ success: [put(`/registry/pods/a/p-${round}`), put(`/registry/pods/b/p-${round}`), put('/registry/secrets/ns-0/s-000')] });
      if (round === 1) middle = await revisionOf(source);
    }
  } finally {
    client.close();
  }
  latest = await revisionOf(source);
  for (const base of [snapshotBase, dumpBase]) {
    const from = base.etcd!.revision + 1;
    const events = await historyOf(source.endpoint, from, latest, () => Date.now(), base === dumpBase ? PREFIXES : undefined);
    await storeSegmentOf(env(), { base, fromRevision: from, toRevision: middle - 5, events });
    await storeSegmentOf(env(), { base, fromRevision: middle - 4, toRevision: latest, events });
  }
  changeIndexTuning.inMemory = LIMIT;
  changeIndexTuning.onClose = (index) => held.push({ finals: index.finals.peak, puts: index.puts.peak, runs: index.finals.runCount });
}, 120_000);

afterEach(() => {
  held.length = 0;
});

afterAll(async () => {
  changeIndexTuning.inMemory = 100_000;
  delete changeIndexTuning.onClose;
  await Promise.all([source?.stop(), work && rm(work, { recursive: true, force: true })]);
});

/** The restore ran once, spilled, and never held more than LIMIT entries of either index. */
function expectSpilledWithin(): void {
  expect(held).toHaveLength(1);
  expect(held[0]!.runs).toBeGreaterThan(1);
  expect(held[0]!.finals).toBeLessThanOrEqual(LIMIT);
  expect(held[0]!.puts).toBeLessThanOrEqual(LIMIT);
}

describe('point-in-time restore into a live etcd with more changed keys than the index holds in memory', () => {
  for (const [what, to, revision] of [
    ['a revision inside the second segment', () => String(middle), () => middle],
    ['latest', () => 'latest', () => latest],
  ] as const) {
    it(`restores a key dump chain to ${what} over the base in the etcd: exactly the source's keys, deletes included`, async () => {
      const target = await startEtcd();
      const area = await mkdtemp(join(work, 'area-'));
      try {
        expect((await runInProcess(['restore', dumpBase.id], { ...env(), RS_ETCD_ENDPOINTS: target.endpoint })).stderr).toBe('');
        held.length = 0;
        const res = await runInProcess(['restore', dumpBase.id, '--to', to(), '--json'], { ...env({ RS_TMP_DIR: area }), RS_ETCD_ENDPOINTS: target.endpoint });
        expect(res.stderr).toBe('');
        const report = JSON.parse(res.stdout) as { point: { target: { revision: number } }; deletes: { deleted: number } };
        expect(report.point.target.revision).toBe(revision());
        expect(report.deletes.deleted).toBeGreaterThan(0);
        expect(values(await keyspace(target, PREFIXES))).toEqual(await valuesAt(source, revision(), PREFIXES));
        expectSpilledWithin();
        // The runs went to the work area, and were removed.
        expect(await readdir(area)).toEqual([]);
      } finally {
        await target.stop();
      }
    }, 60_000);
  }

  it("restores a snapshot's keys (--keys) and the changes into an empty etcd", async () => {
    const target = await startEtcd();
    try {
      const res = await runInProcess(['restore', snapshotBase.id, '--keys', '--to', String(middle)], { ...env(), RS_ETCD_ENDPOINTS: target.endpoint });
      expect(res.stderr).toBe('');
      expect(values(await keyspace(target, PREFIXES))).toEqual(await valuesAt(source, middle, PREFIXES));
      expectSpilledWithin();
    } finally {
      await target.stop();
    }
  }, 60_000);

  it('plans a dry run from the spilled index as the restore does it, writing nothing', async () => {
    const target = await startEtcd();
    try {
      expect((await runInProcess(['restore', dumpBase.id], { ...env(), RS_ETCD_ENDPOINTS: target.endpoint })).stderr).toBe('');
      held.length = 0;
      const before = values(await keyspace(target, PREFIXES));
      const res = await runInProcess(['restore', dumpBase.id, '--to', 'latest', '--dry-run', '--json'], { ...env(), RS_ETCD_ENDPOINTS: target.endpoint });
      expect(res.stderr).toBe('');
      const plan = JSON.parse(res.stdout) as { deletes: { keys: number; deleted: number } };
      const atLatest = await valuesAt(source, latest, PREFIXES);
      const gone = [...before.keys()].filter((k) => !atLatest.has(k));
      expect(plan.deletes.deleted).toBe(gone.length);
      expect(values(await keyspace(target, PREFIXES))).toEqual(before);
      expectSpilledWithin();
    } finally {
      await target.stop();
    }
  }, 60_000);
});
