import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  openSnapshot,
  SnapshotRevisionError,
  verifyFile,
  type LiveKey,
  type SnapshotReader,
} from '../../../src/snapshot/index.js';
import { BoltFile } from '../../../src/snapshot/bolt-file.js';
import { FileSource } from '../../../src/snapshot/file-source.js';
import { liveKeysOf } from '../../../src/snapshot/live-keys.js';
import { readMeta } from '../../../src/snapshot/meta.js';
import { VERIFY_CACHE_BYTES, verifySource } from '../../../src/snapshot/verify.js';
import { SCANNED_LEAF, scanPages } from '../../../src/snapshot/page-scan.js';
import { prefixRanges } from '../../../src/etcd/key-ranges.js';
import { liveKeysIn } from '../../../src/ops/backup-keys.js';
import { startEtcd, type TestEtcd } from '../../helpers/etcd.js';
import { comparable, parseGetJson } from '../../unit/snapshot/etcdctl-json.js';

/**
 * The offline reader against etcd itself: a Kubernetes-like dataset written to a real etcd, a snapshot taken with
 * etcdctl, and every answer compared with what etcd and etcdctl say.
 */
const run = promisify(execFile);
let etcd: TestEtcd;
let dir: string;
let snapshot: string;
let reader: SnapshotReader;
/** A revision after the compaction, before later overwrites and deletes. */
let olderRevision: number;
let compactedAt: number;

async function collect(iterable: AsyncIterable<LiveKey>): Promise<LiveKey[]> {
  const out: LiveKey[] = [];
  for await (const k of iterable) out.push(k);
  return out;
}

/** Kubernetes-like JSON of roughly `size` bytes. */
function object(kind: string, name: string, size = 200): string {
  const pad = 'x'.repeat(Math.max(0, size - 120));
  return JSON.stringify({ apiVersion: 'v1', kind, metadata: { name, namespace: 'default', annotations: { pad } } });
}

async function writeDataset(client: Etcd3): Promise<void> {
  const kinds = ['pods', 'configmaps', 'services', 'events', 'deployments'];
  const puts: Promise<unknown>[] = [];
  for (let i = 0; i < 300; i++) {
    const kind = kinds[i % kinds.length]!;
    const name = `obj-${String(i).padStart(3, '0')}`;
    // Every 25th value needs overflow pages (> 4 KiB).
    puts.push(client.put(`/registry/${kind}/ns-${i % 7}/${name}`).value(object(kind, name, i % 25 === 0 ? 6000 + i * 40 : 200 + i)).exec());
    if (puts.length >= 32) await Promise.all(puts.splice(0));
  }
  await Promise.all(puts);
  for (let i = 0; i < 3; i++) {
    await client.put(`/registry/secrets/big/blob-${i}`).value(Buffer.alloc(1_000_000 + i, 0x41 + i));
  }
  await client.put('/registry/empty/value').value('');
  await client.put(Buffer.from([0x00, 0xff, 0x10, 0x80])).value(Buffer.from([0, 1, 2, 255]));
  await client.put(Buffer.from('/registry/bin/\u00ff\u0000key', 'latin1')).value(Buffer.from([0xde, 0xad, 0xbe, 0xef]));
  const lease = client.lease(600, { autoKeepAlive: false });
  await lease.grant();
  await lease.put('/registry/leases/kube-node-lease/node-a').value('held');
  await lease.put('/registry/leases/kube-node-lease/node-b').value('held too');
  lease.release();
  for (let i = 0; i < 300; i += 9) await client.delete().key(`/registry/${kinds[i % kinds.length]}/ns-${i % 7}/obj-${String(i).padStart(3, '0')}`).exec();
  for (let i = 1; i < 300; i += 11) await client.put(`/registry/${kinds[i % kinds.length]}/ns-${i % 7}/obj-${String(i).padStart(3, '0')}`).value(`overwritten ${i}`);
}

beforeAll(async () => {
  etcd = await startEtcd();
  dir = await mkdtemp(join(tmpdir(), 'rs-snapshot-it-'));
  const client = new Etcd3({ hosts: etcd.endpoint });
  try {
    await writeDataset(client);
    compactedAt = Number((await client.put('/registry/marker/compact').value('here').exec()).header.revision);
    await etcd.ctl(['compact', String(compactedAt)]);
    olderRevision = Number((await client.put('/registry/marker/older').value('there').exec()).header.revision);
    // After the older revision: overwrites, deletes (one of a leased key), a re-created key.
    await client.put('/registry/pods/ns-1/obj-001').value('changed after the older revision');
    await client.delete().key('/registry/leases/kube-node-lease/node-b').exec();
    await client.delete().key('/registry/secrets/big/blob-1').exec();
    await client.put('/registry/secrets/big/blob-1').value('re-created small');
    await client.put('/registry/marker/latest').value('last');
  } finally {
    client.close();
  }
  snapshot = join(dir, 'snap.db');
  await etcd.ctl(['snapshot', 'save', snapshot]);
  reader = await openSnapshot(snapshot);
});

afterAll(async () => {
  await reader?.close();
  await etcd?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** `etcdctl get --prefix "" -w json` (plus extra flags), parsed. */
async function ctlGetAll(extra: string[] = []): Promise<ReturnType<typeof parseGetJson>> {
  return parseGetJson(await etcd.ctl(['get', '--prefix', '', '-w', 'json', ...extra]));
}

describe('offline snapshot reader against etcd', () => {
  it('status equals `etcdctl snapshot status`, and the sha256 trailer matches', async () => {
    const { stdout } = await run('etcdctl', ['snapshot', 'status', '-w', 'json', snapshot], {
      env: { ...process.env, ETCDCTL_API: '3' },
    });
    const expected = JSON.parse(stdout) as { hash: number; revision: number; totalKey: number; totalSize: number };
    expect(await reader.status()).toEqual({ ...expected, trailer: 'match' });
  });

  it('live keys at the latest revision equal `etcdctl get --prefix ""`', async () => {
    const expected = await ctlGetAll();
    const keys = await collect(reader.liveKeys());
    expect(keys.map(comparable)).toEqual(expected.kvs.map(comparable));
    expect(keys.filter((k) => k.value.length > 900_000)).toHaveLength(2);
    expect(keys.some((k) => k.key[0] === 0x00)).toBe(true);
    expect(keys.some((k) => k.value.length === 0)).toBe(true);
  });

  it('live keys at an older revision after compaction equal `etcdctl get --rev`', async () => {
    for (const revision of [compactedAt, olderRevision]) {
      const expected = await ctlGetAll(['--rev', String(revision)]);
      const keys = await collect(reader.liveKeys({ revision }));
      expect(keys.map(comparable)).toEqual(expected.kvs.map(comparable));
    }
    const older = await collect(reader.liveKeys({ revision: olderRevision, prefix: '/registry/leases/' }));
    expect(older.map((k) => k.key.toString())).toEqual([
      '/registry/leases/kube-node-lease/node-a',
      '/registry/leases/kube-node-lease/node-b',
    ]);
  });

  // Before: `stats` and `restore --keys` of a snapshot read its live keys prefix by prefix, a whole walk of the key
  // bucket for each of the three default Kubernetes prefixes: every page of a 430 MB snapshot read three times (stats of
  // the operator's 100k keys/300 MB: 4.2-4.9 CPU-s, 3.6-3.9 now). One walk now finds the keys of every range.
  it('live keys under several prefixes come from one walk of the key bucket, equal to etcd\'s ranges', async () => {
    const prefixes = ['/registry/secrets', '/registry/leases', '/registry/pods'];
    for (const revision of [undefined, olderRevision]) {
      let walks = 0;
      const counted = { liveKeys: (o?: Parameters<SnapshotReader['liveKeys']>[0]) => (walks++, reader.liveKeys(o)) };
      const keys = await collect(liveKeysIn(counted, prefixRanges(prefixes), revision));
      expect(walks).toBe(1);
      const expected = [];
      for (const p of [...prefixes].sort()) {
        expected.push(...parseGetJson(await etcd.ctl(['get', '--prefix', `${p}/`, '-w', 'json', ...(revision === undefined ? [] : ['--rev', String(revision)])])).kvs);
      }
      expect(keys.map(comparable)).toEqual(expected.map(comparable));
      expect(keys.length).toBeGreaterThan(50);
    }
  });

  // Before: every live key's location was held in memory until the walk's end (~150 MB of heap for a million keys:
  // `stats` of such a snapshot peaked at 480-560 MB of RSS where 150k keys took 300). Past `keysInMemory` they now go
  // to sorted runs on disk, merged in key order: here 16 at a time, so overwrites, deletes and a re-created key fall
  // in different runs.
  it("live keys of more keys than it holds in memory go through sorted runs on disk: the same as etcd's, runs removed after", async () => {
    const areas: string[] = [];
    const spillArea = async () => {
      const area = await mkdtemp(join(dir, 'spill-'));
      areas.push(area);
      return { dir: area, remove: () => rm(area, { recursive: true, force: true }) };
    };
    const spilled = await openSnapshot(snapshot, { spillArea });
    try {
      for (const revision of [undefined, compactedAt, olderRevision]) {
        const expected = await ctlGetAll(revision === undefined ? [] : ['--rev', String(revision)]);
        const keys = await collect(spilled.liveKeys({ keysInMemory: 16, ...(revision !== undefined && { revision }) }));
        expect(keys.map(comparable)).toEqual(expected.kvs.map(comparable));
      }
      const leases = await collect(spilled.liveKeys({ keysInMemory: 4, prefix: '/registry/leases/' }));
      expect(leases.map((k) => k.key.toString())).toEqual(['/registry/leases/kube-node-lease/node-a']);
      // A walk given up after its first key removes its runs as well.
      for await (const first of spilled.liveKeys({ keysInMemory: 16 })) {
        expect(first.key.length).toBeGreaterThan(0);
        break;
      }
    } finally {
      await spilled.close();
    }
    expect(areas).toHaveLength(4);
    for (const area of areas) expect(existsSync(area)).toBe(false);
  });

  it('refuses a revision below the compaction, as etcd does', async () => {
    await expect(ctlGetAll(['--rev', String(compactedAt - 1)])).rejects.toThrow(/compacted/);
    await expect(collect(reader.liveKeys({ revision: compactedAt - 1 }))).rejects.toThrow(SnapshotRevisionError);
  });

  it('has the lease of the leased keys', async () => {
    const leased = (await collect(reader.liveKeys({ prefix: '/registry/leases/' }))).map((k) => k.lease);
    const leases = await reader.leases();
    expect(leases.map((l) => l.id)).toEqual([...new Set(leased)]);
    expect(leases[0]?.ttl).toBe(600);
  });

  it('verify passes every check on the real snapshot', async () => {
    const checks = await reader.verify();
    expect(checks.filter((c) => c.level !== 'pass')).toEqual([]);
    // ...and those checks are the walk's, not an empty list.
    expect(checks.map((c) => c.name)).toEqual(expect.arrayContaining(['meta page 0', 'meta page 1', 'pages', 'key order', 'sha256 trailer', 'etcd key bucket']));
  });

  // Before: verify (the walk of every page) and status (the scan of the whole file) saw no signal: Ctrl-C during
  // `reshifter verify FILE` of a k3s database of GBs waited for the whole walk. Both now stop with the signal's reason,
  // as the walks of keys do; verifyFile (a backup's verify) too.
  it('verify and status stop with the reader signal\'s reason; verifyFile with its signal', async () => {
    const controller = new AbortController();
    const stopping = await openSnapshot(snapshot, { signal: controller.signal });
    try {
      const reason = new Error('verify of the file stopped: received SIGINT');
      controller.abort(reason);
      await expect(stopping.verify()).rejects.toBe(reason);
      await expect(stopping.status()).rejects.toBe(reason);
    } finally {
      await stopping.close();
    }
    const reason = new Error('stopped');
    await expect(verifyFile(snapshot, undefined, AbortSignal.abort(reason))).rejects.toBe(reason);
  });
});

// Before: the pass that locates live keys read every leaf whole, each revision's value of a megabyte included, to take
// the user key from its first bytes: all 600 MB of a snapshot of Helm release Secrets (10 revisions of ~1 MB per
// release, 40 releases) went through memory before the first value was given (stats of it peaked at 285-297 MB). It now
// reads a big leaf's head, and each further element's head where it lies (bbolt keeps up to four such values in a leaf).
describe('live keys of a snapshot of Helm-like release Secrets', () => {
  let helm: TestEtcd;
  let helmDir: string;
  let helmSnapshot: string;

  beforeAll(async () => {
    helm = await startEtcd();
    helmDir = await mkdtemp(join(tmpdir(), 'rs-snapshot-helm-'));
    const client = new Etcd3({ hosts: helm.endpoint });
    try {
      for (let release = 0; release < 3; release++) {
        for (let revision = 1; revision <= 6; revision++) {
          const key = `/registry/secrets/ns-${release}/sh.helm.release.v1.app.v${revision}`;
          await client.put(key).value(Buffer.alloc(1_000_000 + revision, 0x41 + revision));
          // Upgrades rewrite the newest release: revisions of it stay in the key bucket.
          if (revision === 6) await client.put(key).value(Buffer.alloc(900_000, 0x61 + release));
          await client.put(`/registry/pods/ns-${release}/pod-${revision}`).value(object('Pod', `pod-${revision}`));
        }
      }
    } finally {
      client.close();
    }
    helmSnapshot = join(helmDir, 'snap.db');
    await helm.ctl(['snapshot', 'save', helmSnapshot]);
  });

  afterAll(async () => {
    await helm?.stop();
    if (helmDir) await rm(helmDir, { recursive: true, force: true });
  });

  // Before: the status scan copied every page crossing one of its 4 MiB reads into a fresh buffer of the page's size:
  // a run of 1 MB values crosses one every few pages, and the copies piled up faster than V8 collected them (status of
  // the 583 MB Helm-like snapshot: 97 MB of array buffers, 176 MB RSS; 33 MB and 114 MB with one buffer reused).
  it('the status scan carries pages across its reads in one reused buffer', async () => {
    const source = await FileSource.open(helmSnapshot);
    try {
      const file = new BoltFile(source, await readMeta(source));
      // Reads of 256 KiB: every value of a megabyte crosses several.
      const scan = (await scanPages(file, undefined, 256 * 1024))!;
      const big = [...scan.span].filter((span, pgid) => scan.kind[pgid] === SCANNED_LEAF && span * file.pageSize > 256 * 1024);
      expect(big.length).toBeGreaterThan(5);
      expect(scan.carryBuffers).toBeLessThanOrEqual(3);
      const reader = await openSnapshot(helmSnapshot);
      const { stdout } = await run('etcdctl', ['snapshot', 'status', '-w', 'json', helmSnapshot], { env: { ...process.env, ETCDCTL_API: '3' } });
      expect(await reader.status()).toMatchObject(JSON.parse(stdout) as object);
      await reader.close();
    } finally {
      await source.close();
    }
  });

  it('are located from the heads of the big values, not their overflow pages, and equal etcd\'s', async () => {
    const source = await FileSource.open(helmSnapshot);
    try {
      const file = new BoltFile(source, await readMeta(source));
      const keys = await collect(liveKeysOf(file));
      // 21 values of ~1 MB in the key bucket, 18 of them live: those are read once by the pass that gives values, a
      // leaf that is mostly superseded revisions read for its live value alone. Before, the whole file was read twice
      // (~44 MB of this 22 MB file); then every leaf holding a live value was read whole, with the superseded revisions
      // beside it (28 MB for 17.7 MB of live values; 21 MB now).
      const live = keys.reduce((n, k) => n + k.value.length, 0);
      expect(source.bytesRead).toBeLessThan(live + 6_000_000);
      const expected = parseGetJson(await helm.ctl(['get', '--prefix', '', '-w', 'json']));
      expect(keys.map(comparable)).toEqual(expected.kvs.map(comparable));
      expect(keys.filter((k) => k.value.length >= 900_000)).toHaveLength(18);
    } finally {
      await source.close();
    }
  });
});

// Before: the pass that locates live keys kept up to the reader's default 48 MiB of key bucket pages cached, pages it
// had passed long before, which V8 then kept as garbage as long: stats of the 100k keys / 300 MB snapshot peaked at
// 248-265 MB RSS, 213-243 MB with the pass's cache bounded to 16 MiB (CPU 3.0-3.7 s both).
describe('live keys of a snapshot of many small keys', () => {
  let many: TestEtcd;
  let manyDir: string;
  let manySnapshot: string;

  beforeAll(async () => {
    many = await startEtcd();
    manyDir = await mkdtemp(join(tmpdir(), 'rs-snapshot-many-'));
    const client = new Etcd3({ hosts: many.endpoint });
    try {
      const keys = Array.from({ length: 32_000 }, (_, i) => `/registry/configmaps/ns-${i % 40}/cm-${String(i).padStart(6, '0')}`);
      for (let at = 0; at < keys.length; at += 100) {
        const txn = client.if(keys[at]!, 'Version', '>', -1);
        const puts = keys.slice(at, at + 100).map((k) => client.put(k).value(object('ConfigMap', k, 2000)));
        await txn.then(...puts).commit();
      }
    } finally {
      client.close();
    }
    manySnapshot = join(manyDir, 'snap.db');
    await many.ctl(['snapshot', 'save', manySnapshot]);
  }, 120_000);

  afterAll(async () => {
    await many?.stop();
    if (manyDir) await rm(manyDir, { recursive: true, force: true });
  });

  it('are located through at most 16 MiB of cached pages, and the reader keeps its cache after', async () => {
    const source = await FileSource.open(manySnapshot);
    let most = 0;
    const watch = setInterval(() => (most = Math.max(most, source.cachedBytes)), 1);
    try {
      const file = new BoltFile(source, await readMeta(source));
      expect(source.dataSize).toBeGreaterThan(60 * 1024 * 1024);
      const keys = await collect(liveKeysOf(file));
      expect(keys).toHaveLength(32_000);
      expect(most).toBeGreaterThan(0);
      expect(most).toBeLessThanOrEqual(16 * 1024 * 1024);
      // The bound was the walk's: reads after it cache as much as before.
      for (let at = 0; at < 40 * 1024 * 1024; at += 1024 * 1024) await source.read(at, 1024 * 1024, 'test');
      expect(source.cachedBytes).toBeGreaterThan(32 * 1024 * 1024);
    } finally {
      clearInterval(watch);
      await source.close();
    }
  });
  // Found by an operator pass (2026-12-08): stats of the 100k keys / 300 MB snapshot peaked at ~220 MB RSS against
  // ~88 MB for a small file. The pages the locating pass had passed, the value pass's read buffers and every value's
  // copy were garbage V8 frees only once ~64 MB of it have piled up (up to 70 MB of ArrayBuffers held, ~20 MB live).
  // Now a walk of transient values (stats) frees each page's buffer once the cache lets go of it and reads the values
  // into one reused buffer; a walk of copies (restore, diff) is as before.
  it('are located freeing the buffer of each page passed, and read as transient values into one buffer', async () => {
    const source = await FileSource.open(manySnapshot);
    try {
      const file = new BoltFile(source, await readMeta(source));
      const copies = createHash('sha256');
      let copied = 0;
      for await (const kv of liveKeysOf(file)) {
        copies.update(kv.key).update(kv.value);
        copied++;
      }
      // A walk of copies (restore, diff) leaves freeing to V8.
      expect(source.releasedBuffers).toBe(0);
      const transient = createHash('sha256');
      const behindValues = new Set<ArrayBufferLike>();
      let keys = 0;
      for await (const kv of liveKeysOf(file, { transientValues: true })) {
        transient.update(kv.key).update(kv.value);
        behindValues.add(kv.value.buffer);
        keys++;
      }
      // 64 MB read through a 16 MiB cache in runs of up to 1 MiB: most of them freed as the walk went.
      expect(source.releasedBuffers).toBeGreaterThan(40);
      expect(keys).toBe(32_000);
      expect(copied).toBe(32_000);
      expect(transient.digest('hex')).toBe(copies.digest('hex'));
      // 32,000 values of 2 KB, as views of the one buffer (grown a few times) where copies took ~8,000 of Node's pool.
      expect(behindValues.size).toBeLessThanOrEqual(5);
    } finally {
      await source.close();
    }
  });
  // Found by an operator pass (2026-12-07): `verify` of a 414 MB snapshot peaked at ~250 MB RSS against ~135 MB for a
  // 33 MB one; its walks read every page through the reader's 48 MiB cache, holding pages passed long ago.
  it('are verified through at most 8 MiB of cached pages, and the source keeps its cache after', async () => {
    const source = await FileSource.open(manySnapshot);
    let most = 0;
    const watch = setInterval(() => (most = Math.max(most, source.cachedBytes)), 1);
    try {
      expect(source.dataSize).toBeGreaterThan(60 * 1024 * 1024);
      const checks = await verifySource(source);
      expect(checks.filter((c) => c.level !== 'pass')).toEqual([]);
      expect(checks.find((c) => c.name === 'etcd key bucket')?.detail).toMatch(/^32000 revisions/);
      expect(most).toBeGreaterThan(0);
      expect(most).toBeLessThanOrEqual(VERIFY_CACHE_BYTES);
      for (let at = 0; at < 40 * 1024 * 1024; at += 1024 * 1024) await source.read(at, 1024 * 1024, 'test');
      expect(source.cachedBytes).toBeGreaterThan(32 * 1024 * 1024);
    } finally {
      clearInterval(watch);
      await source.close();
    }
  });
});

// Found on a slow disk (fc2a050): values of tens of kilobytes, several live ones a leaf, were read key by key once
// leaves over 16 KiB were read by their head alone (one read a leaf) and each of their values alone (two reads a
// value), where the cache's read-ahead and the merged reads of the value pass take megabytes at a time. Counted here
// as the file reads the walk makes (calls of the file's read, not bytes, and no clock).
describe('live keys of a snapshot of values of tens of kilobytes', () => {
  let mid: TestEtcd;
  let midDir: string;
  let midSnapshot: string;

  beforeAll(async () => {
    mid = await startEtcd();
    midDir = await mkdtemp(join(tmpdir(), 'rs-snapshot-mid-'));
    const client = new Etcd3({ hosts: mid.endpoint });
    try {
      for (let at = 0; at < 1000; at += 50) {
        const txn = client.if(`/registry/configmaps/ns/cm-${String(at).padStart(4, '0')}`, 'Version', '>', -1);
        const puts = Array.from({ length: 50 }, (_, i) => at + i).map((n) => client.put(`/registry/configmaps/ns/cm-${String(n).padStart(4, '0')}`).value(Buffer.alloc(24 * 1024, 0x41 + (n % 26))));
        await txn.then(...puts).commit();
      }
    } finally {
      client.close();
    }
    midSnapshot = join(midDir, 'snap.db');
    await mid.ctl(['snapshot', 'save', midSnapshot]);
  }, 120_000);

  afterAll(async () => {
    await mid?.stop();
    if (midDir) await rm(midDir, { recursive: true, force: true });
  });

  it('are read in reads of many leaves each, not a read or two per value', async () => {
    const source = await FileSource.open(midSnapshot);
    const handle = (source as unknown as { handle: { read: (...args: unknown[]) => Promise<unknown> } }).handle;
    const read = handle.read.bind(handle);
    let reads = 0;
    handle.read = (...args: unknown[]) => {
      reads++;
      return read(...args);
    };
    try {
      const file = new BoltFile(source, await readMeta(source));
      const keys = await collect(liveKeysOf(file));
      expect(keys).toHaveLength(1000);
      expect(keys.every((k, n) => k.value.length === 24 * 1024 && k.value[0] === 0x41 + (n % 26))).toBe(true);
      // ~25 MB of values: a few dozen reads of megabytes, where there were over a thousand.
      expect(reads).toBeLessThan(200);
    } finally {
      await source.close();
    }
  });
});
