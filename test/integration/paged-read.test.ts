import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Etcd3 } from 'etcd3';
import { loadConfig } from '../../src/config/load-config.js';
import { createEtcdClient } from '../../src/etcd/client.js';
import { prefixRanges } from '../../src/etcd/key-ranges.js';
import { PagedReader } from '../../src/etcd/paged-reader.js';
import { ReadCompactedError } from '../../src/etcd/read-compacted.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';

/** The v3 paged read: small pages, all at the revision of the first, whatever happens to etcd meanwhile. */
let etcd: TestEtcd;
let client: Etcd3;
const cfg = () => loadConfig({ RS_ETCD_ENDPOINTS: etcd.endpoint }).config!.etcd;

beforeAll(async () => {
  etcd = await startEtcd();
  client = new Etcd3({ hosts: etcd.endpoint });
  for (let i = 0; i < 40; i++) await client.put(`/registry/configmaps/default/cm-${String(i).padStart(2, '0')}`).value(`v${i}`);
  await client.put('/registryfoo/not-ours').value('x');
  await client.put('/kubernetes.io/pods/a/b').value('pod');
});

afterAll(async () => {
  client?.close();
  await etcd?.stop();
});

describe('paged v3 read', () => {
  it('reads every key in small pages, pinned to one revision while etcd changes', async () => {
    const reader = new PagedReader(client, cfg(), prefixRanges(['/registry', '/kubernetes.io']), { firstPageKeys: 7, maxPageKeys: 7 });
    const revision = await reader.start();
    const pages: string[][] = [];
    for await (const page of reader.pages()) {
      pages.push(page.map((r) => `${r.key.toString()}=${r.value.toString()}`));
      if (pages.length === 1) {
        // Changes after the first page: a new key, a changed key and a deleted key, all further on.
        await client.put('/registry/configmaps/default/cm-99').value('new');
        await client.put('/registry/configmaps/default/cm-30').value('changed');
        await client.delete().key('/registry/configmaps/default/cm-31');
      }
    }
    expect(pages.length).toBeGreaterThan(5);
    expect(Math.max(...pages.map((p) => p.length))).toBeLessThanOrEqual(7);
    const all = pages.flat();
    expect(all).toHaveLength(41);
    expect(all[0]).toBe('/kubernetes.io/pods/a/b=pod');
    expect(all).toContain('/registry/configmaps/default/cm-30=v30');
    expect(all).toContain('/registry/configmaps/default/cm-31=v31');
    expect(all.some((k) => k.includes('cm-99') || k.includes('registryfoo'))).toBe(false);
    expect(reader.revision).toBe(revision);
    expect(reader.keys).toBe(41);
  });

  it('reads every key exactly once, in order, across gaps and odd bytes (windowed reads)', async () => {
    const keys: Buffer[] = [];
    const ns = ['a', 'b', 'zz', 'team-0', 'team-z', 'team-10'];
    for (const resource of ['configmaps', 'pods', 'apps/deployments', 'zzz']) {
      for (const n of ns) for (let i = 0; i < 9; i++) keys.push(Buffer.from(`/windows/${resource}/${n}/obj-${(i * 37).toString(36)}`));
    }
    keys.push(Buffer.from([...Buffer.from('/windows/bin/'), 0x00]), Buffer.from([...Buffer.from('/windows/bin/'), 0xff, 0xff]), Buffer.from([...Buffer.from('/windows/bin/'), 0x7f, 0x00, 0xff]));
    for (let i = 0; i < keys.length; i += 50) {
      await client.kv.txn({ compare: [], success: keys.slice(i, i + 50).map((key) => ({ request_put: { key, value: Buffer.from('v') } })), failure: [] });
    }
    const requests: Array<{ end: Buffer; count: number }> = [];
    const spy = Object.create(client) as Etcd3;
    const kv = Object.create(client.kv) as Etcd3['kv'];
    kv.range = async (req) => {
      const res = await client.kv.range(req);
      requests.push({ end: req.range_end as Buffer, count: Number(res.count) });
      return res;
    };
    Object.defineProperty(spy, 'kv', { value: kv });
    const reader = new PagedReader(spy, cfg(), prefixRanges(['/windows']), { firstPageKeys: 5, maxPageKeys: 5 });
    const read: Buffer[] = [];
    for await (const page of reader.pages()) read.push(...page.map((r) => r.key));
    expect(read.map((k) => k.toString('hex'))).toEqual([...keys].sort(Buffer.compare).map((k) => k.toString('hex')));
    // Most requests end at a window, not at the end of the range.
    const end = prefixRanges(['/windows'])[0]!.end;
    expect(requests.filter((r) => !r.end.equals(end)).length).toBeGreaterThan(requests.length / 2);
  });

  it('starts small and never asks for more keys than a reply can hold at the largest value', async () => {
    const keys = Array.from({ length: 600 }, (_, i) => Buffer.from(`/sizing/configmaps/ns-${i % 7}/cm-${String(i).padStart(4, '0')}`));
    for (let i = 0; i < keys.length; i += 100) {
      await client.kv.txn({ compare: [], success: keys.slice(i, i + 100).map((key) => ({ request_put: { key, value: Buffer.from('small') } })), failure: [] });
    }
    const limits: number[] = [];
    const spy = Object.create(client) as Etcd3;
    const kv = Object.create(client.kv) as Etcd3['kv'];
    kv.range = (req) => {
      if (!req.count_only) limits.push(Number(req.limit));
      return client.kv.range(req);
    };
    Object.defineProperty(spy, 'kv', { value: kv });
    const reader = new PagedReader(spy, cfg(), prefixRanges(['/sizing']));
    let read = 0;
    for await (const page of reader.pages()) read += page.length;
    expect(read).toBe(600);
    // A run of small values says nothing of the next ones, which may weigh 1.5 MiB each: 42 of those fill 64 MiB.
    expect(limits[0]).toBeLessThanOrEqual(8);
    expect(Math.max(...limits)).toBe(42);
  });

  it('reads the remaining TTL of each lease once, and grows pages by bytes', async () => {
    const lease = client.lease(600, { autoKeepAlive: false });
    await lease.put('/registry/events/default/e1').value('a');
    await lease.put('/registry/events/default/e2').value('b');
    const reader = new PagedReader(client, cfg(), prefixRanges(['/registry/events']), { firstPageKeys: 1, targetPageBytes: 1 << 20 });
    const records = [];
    for await (const page of reader.pages()) records.push(...page);
    expect(records).toHaveLength(2);
    for (const r of records) {
      expect(r.lease).toBe(await lease.grant());
      expect(r.ttl).toBeGreaterThan(590);
      expect(r.ttl).toBeLessThanOrEqual(600);
    }
    await lease.revoke();
  });

  it('says clearly when the pinned revision is compacted during the read: both revisions, and what to do', async () => {
    const reader = new PagedReader(client, cfg(), prefixRanges(['/registry']), { firstPageKeys: 5, maxPageKeys: 5 });
    const pinned = await reader.start();
    await client.put('/registry/configmaps/default/bump').value('x');
    const compacted = Number((await client.maintenance.status()).header.revision);
    await client.kv.compact({ revision: String(compacted), physical: true });
    const err = await (async () => {
      for await (const page of reader.pages()) void page;
    })().catch((e: unknown) => e);
    // Before: 'etcd compacted that revision during the read (auto-compaction); run it again', naming neither the
    // revision etcd compacted up to nor what to do when it recurs.
    expect(err).toBeInstanceOf(ReadCompactedError);
    expect(err).toMatchObject({ revision: pinned, compactRevision: compacted });
    expect((err as Error).message).toMatch(
      new RegExp(`^reading etcd at revision ${pinned} failed after \\S+: etcd compacted its history up to revision ${compacted} meanwhile .*; run it again\\. If it recurs, .*--auto-compaction-retention.*RS_BACKUP_STRATEGY=snapshot`),
    );
  });
});

describe('paged v3 read of values over etcd default request limit', () => {
  const MiB = 1024 * 1024;
  let big: TestEtcd;
  let ours: Etcd3;
  const bigCfg = () => loadConfig({ RS_ETCD_ENDPOINTS: big.endpoint }).config!.etcd;

  beforeAll(async () => {
    // An etcd whose --max-request-bytes was raised (some clusters do, for big CRDs): values up to 80 MB.
    big = await startEtcd({ args: ['--max-request-bytes', String(80 * MiB), '--quota-backend-bytes', String(4 * 1024 * MiB)] });
    const writer = new Etcd3({ hosts: big.endpoint });
    try {
      for (let i = 0; i < 12; i++) await writer.put(`/huge/a/v${String(i).padStart(2, '0')}`).value(Buffer.alloc(10 * MiB, i));
      await writer.put('/huge/b/giant').value(Buffer.alloc(70 * MiB, 7));
    } finally {
      writer.close();
    }
    ours = createEtcdClient(bigCfg());
  }, 120_000);
  afterAll(async () => {
    ours?.close();
    await big?.stop();
  });

  it('asks again with fewer keys when a page is refused for size, through the real client (no circuit breaker)', async () => {
    const reader = new PagedReader(ours, bigCfg(), prefixRanges(['/huge/a']));
    const values: number[] = [];
    for await (const page of reader.pages()) values.push(...page.map((r) => r.value[0]!));
    expect(values).toEqual(Array.from({ length: 12 }, (_, i) => i));
  });

  it('names the key whose value alone is over the reply limit', async () => {
    const reader = new PagedReader(ours, bigCfg(), prefixRanges(['/huge/b']));
    await expect(async () => {
      for await (const page of reader.pages()) void page;
    }).rejects.toThrow(/reading keys at revision \d+ failed at .*: the first key from "\/huge\/b\/" is larger than the 64 MiB a reply may hold/);
  });
});

describe('paged v3 read from endpoints of two different clusters', () => {
  let a: TestEtcd;
  let b: TestEtcd;
  let both: Etcd3;
  const bothCfg = () => loadConfig({ RS_ETCD_ENDPOINTS: `${a.endpoint},${b.endpoint}` }).config!.etcd;

  beforeAll(async () => {
    // Two separate clusters at the same revision (the same number of puts), with other values: RS_ETCD_ENDPOINTS
    // pasted from two environments, or a member left running on its own after a restore made a new cluster.
    [a, b] = await Promise.all([startEtcd(), startEtcd()]);
    for (const [etcd, value] of [[a, 'a'], [b, 'b']] as const) {
      const writer = new Etcd3({ hosts: etcd.endpoint });
      try {
        for (let i = 0; i < 40; i++) await writer.put(`/registry/configmaps/default/cm-${String(i).padStart(2, '0')}`).value(value);
      } finally {
        writer.close();
      }
    }
    both = createEtcdClient(bothCfg());
  });
  afterAll(async () => {
    both?.close();
    await Promise.all([a?.stop(), b?.stop()]);
  });

  it('fails naming the clusters rather than mixing their keys in one dump', async () => {
    // Each page goes to either endpoint: with 20 pages, one from the other cluster than the first is all but certain.
    const reader = new PagedReader(both, bothCfg(), prefixRanges(['/registry']), { firstPageKeys: 2, maxPageKeys: 2 });
    await expect(async () => {
      for await (const page of reader.pages()) void page;
    }).rejects.toThrow(/reading keys at revision \d+ failed: the endpoints of RS_ETCD_ENDPOINTS answer as different etcd clusters \(\d+, then \d+\)/);
  });
});
