import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSnapshot, SnapshotFormatError, verifyFile, type LiveKey } from '../../../src/snapshot/index.js';
import { BoltWriter } from './bolt-writer.js';
import { encodeKeyValue, encodeLease, leaseKey, revisionKey } from './etcd-records.js';

let dir: string;
let n = 0;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rs-snapshot-crafted-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(bytes: Buffer): Promise<string> {
  const path = join(dir, `f${n++}.db`);
  await writeFile(path, bytes);
  return path;
}

async function collect(iterable: AsyncIterable<LiveKey>): Promise<LiveKey[]> {
  const out: LiveKey[] = [];
  for await (const k of iterable) out.push(k);
  return out;
}

/** An etcd-like file: a key bucket of two leaves under a branch, meta and lease buckets inline. */
function etcdLike(): Buffer {
  const w = new BoltWriter();
  const put = (main: number, key: string, value: string, version: number, create: number) => ({
    key: revisionKey(main),
    value: encodeKeyValue({ key, value, createRevision: create, modRevision: main, version }),
  });
  const leafA = w.leaf([put(2, '/a', 'one', 1, 2), put(3, '/b', 'two', 1, 3), put(4, '/a', 'uno', 2, 2)]);
  const leafB = w.leaf([
    { key: revisionKey(5, 0, true), value: encodeKeyValue({ key: '/b' }) },
    put(6, '/c', 'x'.repeat(5000), 1, 6),
  ]);
  const branch = w.branch([{ key: revisionKey(2), pgid: leafA }, { key: revisionKey(5, 0, true), pgid: leafB }]);
  const root = w.leaf([
    { key: 'key', value: BoltWriter.bucket(branch), bucket: true },
    { key: 'lease', value: BoltWriter.inlineBucket([{ key: leaseKey(7n), value: encodeLease(7n, 30, 12) }]), bucket: true },
    { key: 'meta', value: BoltWriter.inlineBucket([{ key: 'finishedCompactRev', value: revisionKey(3) }]), bucket: true },
  ]);
  return w.finish(root);
}

describe('hand-built bbolt files', () => {
  it('reads an etcd-like tree with a branch page, an overflow page, a tombstone and inline buckets', async () => {
    const reader = await openSnapshot(await file(etcdLike()));
    try {
      const keys = await collect(reader.liveKeys());
      expect(keys.map((k) => [k.key.toString(), k.value.length, k.version])).toEqual([['/a', 3, 2], ['/c', 5000, 1]]);
      const atFour = await collect(reader.liveKeys({ revision: 4 }));
      expect(atFour.map((k) => [k.key.toString(), k.value.toString()])).toEqual([['/a', 'uno'], ['/b', 'two']]);
      expect(await reader.leases()).toEqual([{ id: 7n, ttl: 30, remainingTTL: 12 }]);
      const status = await reader.status();
      expect(status).toMatchObject({ revision: 6, totalKey: 7, trailer: 'absent' });
      const checks = await reader.verify();
      expect(checks.filter((c) => !c.ok)).toEqual([]);
      expect(checks.map((c) => c.name)).toEqual(expect.arrayContaining(['meta page 0', 'meta page 1', 'pages', 'key order', 'sha256 trailer', 'etcd key bucket']));
    } finally {
      await reader.close();
    }
  });

  it('counts a nested bucket as one element in totalKey and hashes only its key, as etcdctl does', async () => {
    const plain = new BoltWriter();
    const plainRoot = plain.leaf([{ key: 'b', value: BoltWriter.inlineBucket([{ key: 'k', value: 'v' }, { key: 'n', value: '' }]), bucket: true }]);
    const nested = new BoltWriter();
    const nestedRoot = nested.leaf([{
      key: 'b',
      value: BoltWriter.inlineBucket([{ key: 'k', value: 'v' }, { key: 'n', value: BoltWriter.inlineBucket([{ key: 'x', value: 'y' }]), bucket: true }]),
      bucket: true,
    }]);
    const a = await openSnapshot(await file(plain.finish(plainRoot)));
    const b = await openSnapshot(await file(nested.finish(nestedRoot)));
    try {
      const [sa, sb] = [await a.status(), await b.status()];
      expect(sb.totalKey).toBe(2);
      // 'n' with an empty value and 'n' as a bucket hash the same: a bucket's value counts as empty.
      expect(sb.hash).toBe(sa.hash);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('rejects a branch that points to itself, naming the page', async () => {
    const bytes = etcdLike();
    // Layout: leaves 2 and 3 (+ overflow 4), branch 5, root 6. Child 1 of the branch now points back at the branch.
    bytes.writeBigUInt64LE(5n, 5 * 4096 + 16 + 16 + 8);
    const reader = await openSnapshot(await file(bytes));
    try {
      await expect(collect(reader.liveKeys())).rejects.toThrow(SnapshotFormatError);
      await expect(reader.status()).rejects.toThrow(/page 5 .*reached twice/);
      const checks = await reader.verify();
      expect(checks.find((c) => c.name === 'pages')?.detail).toMatch(/page 5 .*reached twice/);
    } finally {
      await reader.close();
    }
  });

  it('rejects two branch elements sharing a child, and children outside the file', async () => {
    const shared = etcdLike();
    shared.writeBigUInt64LE(2n, 5 * 4096 + 16 + 16 + 8);
    const outside = etcdLike();
    outside.writeBigUInt64LE(999n, 5 * 4096 + 16 + 8);
    for (const bytes of [shared, outside]) {
      const reader = await openSnapshot(await file(bytes));
      try {
        await expect(reader.status()).rejects.toThrow(SnapshotFormatError);
        await expect(reader.status()).rejects.toThrow(/page|outside/);
      } finally {
        await reader.close();
      }
    }
  });

  it('uses the other meta when one is damaged, warns about it, and fails when both are', async () => {
    const oneBad = etcdLike();
    oneBad[16 + 40] ^= 0xff; // meta 0's sequence: checksum mismatch
    const reader = await openSnapshot(await file(oneBad));
    try {
      expect((await reader.status()).revision).toBe(6);
    } finally {
      await reader.close();
    }
    const checks = await verifyFile(await file(oneBad));
    expect(checks.find((c) => c.name === 'meta page 0')).toMatchObject({ ok: true, level: 'warn' });
    expect(checks.find((c) => c.name === 'meta page 0')?.detail).toMatch(/checksum mismatch/);
    expect(checks.filter((c) => !c.ok)).toEqual([]);

    const bothBad = Buffer.from(oneBad);
    bothBad[4096 + 16 + 40] ^= 0xff;
    await expect(openSnapshot(await file(bothBad))).rejects.toThrow(/both meta pages are damaged/);
    const both = await verifyFile(await file(bothBad));
    expect(both.filter((c) => c.level === 'fail').map((c) => c.name)).toEqual(['meta page 0', 'meta page 1', 'meta in use']);
  });

  it('probes the page size when meta 0 is unreadable', async () => {
    const w = new BoltWriter(8192);
    const root = w.leaf([{ key: 'b', value: BoltWriter.inlineBucket([{ key: 'k', value: 'v' }]), bucket: true }]);
    const bytes = w.finish(root);
    bytes.fill(0, 0, 80);
    const reader = await openSnapshot(await file(bytes));
    try {
      expect(reader.pageSize).toBe(8192);
      expect((await reader.status()).totalKey).toBe(1);
    } finally {
      await reader.close();
    }
  });

  it('says a truncated file is truncated', async () => {
    const bytes = etcdLike();
    await expect(openSnapshot(await file(bytes.subarray(0, bytes.length - 4096)))).rejects.toThrow(/file is truncated/);
  });

  it('reports keys out of order and an element running off its page', async () => {
    const unordered = new BoltWriter();
    const root = unordered.leaf([{ key: 'b', value: BoltWriter.inlineBucket([{ key: 'z', value: '1' }, { key: 'a', value: '2' }]), bucket: true }]);
    const checks = await verifyFile(await file(unordered.finish(root)));
    expect(checks.find((c) => c.name === 'key order')).toMatchObject({ ok: false });

    const overrun = etcdLike();
    overrun.writeUInt32LE(0x7fffffff, 2 * 4096 + 16 + 12); // vsize of leaf element 0 on page 2
    const reader = await openSnapshot(await file(overrun));
    try {
      await expect(reader.status()).rejects.toThrow(/page 2 \(offset 8192\).*leaf element 0.*runs past the page end/);
    } finally {
      await reader.close();
    }
  });

  it('checks a persisted freelist: every page in use or free, never both', async () => {
    const build = (listed: (ids: { free: number; leaf: number }) => number[]): Buffer => {
      const w = new BoltWriter();
      const leaf = w.leaf([{ key: 'k', value: 'v' }]);
      const free = w.skip();
      const freelist = w.freelist(listed({ free, leaf }));
      const root = w.leaf([{ key: 'b', value: BoltWriter.bucket(leaf), bucket: true }]);
      return w.finish(root, { freelist: BigInt(freelist) });
    };
    const good = await verifyFile(await file(build(({ free }) => [free])));
    // Not an etcd backend (no "key" bucket), but sound as a bbolt file.
    expect(good.filter((c) => !c.ok).map((c) => c.name)).toEqual(['etcd key bucket']);
    expect(good.find((c) => c.name === 'freelist')?.detail).toMatch(/lists 1 free pages/);

    const bad = await verifyFile(await file(build(({ leaf }) => [leaf])));
    expect(bad.find((c) => c.name === 'page accounting')?.detail).toMatch(/page 2 is both in use and listed as free.*page 3 is neither reachable nor free/);
  });
});
