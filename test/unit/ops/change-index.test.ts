import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EntryCursor, SpilledEntries, type KeyFinal } from '../../../src/ops/change-index.js';

/**
 * The index of a restore's changed keys (change-index.ts), on real files: what comes back, however many runs it was
 * spilled into, is what an in-memory map of the same entries gives, in byte order of the keys (latin1 strings) or in
 * revision order; never more than the limit held at once.
 */
let dir: string;
let areas: string[];
const area = async () => {
  const d = await mkdtemp(join(dir, 'area-'));
  areas.push(d);
  return { dir: d, remove: () => rm(d, { recursive: true, force: true }) };
};

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rs-change-index-'));
  areas = [];
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function all(entries: SpilledEntries): Promise<KeyFinal[]> {
  const out: KeyFinal[] = [];
  for await (const e of entries.sorted()) out.push(e);
  return out;
}

/** Keys with bytes above 0x7f (sorted as bytes, as etcd sorts them) and one name longer than a read buffer. */
function changes(n: number): KeyFinal[] {
  const out: KeyFinal[] = [];
  for (let i = 0; i < n; i++) {
    const key = Buffer.concat([Buffer.from(`/registry/k-${(i * 7919) % 97}`), Buffer.from([0xc3, (i * 31) % 256])]);
    out.push({ name: key.toString('latin1'), revision: 10 + i, deleted: i % 5 === 0 });
  }
  out.push({ name: `/registry/long/${'x'.repeat(200_000)}`, revision: 10 + n, deleted: false });
  return out;
}

describe('SpilledEntries', () => {
  for (const limit of [4, 7, 1_000_000]) {
    it(`in key order, a key's last entry wins, spilled at ${limit} entries or not`, async () => {
      const entries = new SpilledEntries('key', limit, area);
      const expected = new Map<string, KeyFinal>();
      const first = changes(300);
      // Every third key changed again later (after spills, so in a later run than its first entry): the later wins.
      const again = first.filter((_, i) => i % 3 === 0).map((e, i) => ({ name: e.name, revision: 1000 + i, deleted: !e.deleted }));
      for (const e of [...first, ...again]) {
        await entries.add(e);
        expected.set(e.name, e);
      }
      const want = [...expected.values()].sort((a, b) => Buffer.compare(Buffer.from(a.name, 'latin1'), Buffer.from(b.name, 'latin1')));
      // Twice: every pass of a restore reads the index again.
      expect(await all(entries)).toEqual(want);
      expect(await all(entries)).toEqual(want);
      expect(entries.peak).toBeLessThanOrEqual(limit);
      if (limit < 300) expect(entries.runCount).toBeGreaterThan(1);
      await entries.close();
      for (const d of areas) await expect(readdir(d)).rejects.toThrow();
    });
  }

  it('in revision order, then by key within a revision (a transaction)', async () => {
    const entries = new SpilledEntries('revision', 5, area);
    const list: KeyFinal[] = [];
    for (let i = 0; i < 100; i++) list.push({ name: `/k/${String((i * 37) % 100).padStart(3, '0')}`, revision: 1000 - Math.floor(i / 3), deleted: false });
    for (const e of list) await entries.add(e);
    const want = [...list].sort((a, b) => a.revision - b.revision || (a.name < b.name ? -1 : 1));
    expect(await all(entries)).toEqual(want);
    expect(entries.peak).toBeLessThanOrEqual(5);
    await entries.close();
  });

  it('a cursor walks the entries as they are sorted, and ends', async () => {
    const entries = new SpilledEntries('key', 3, area);
    for (const e of changes(20)) await entries.add(e);
    const cursor = await EntryCursor.open(entries);
    const walked: string[] = [];
    while (cursor.head !== undefined) {
      walked.push(cursor.head.name);
      const more = cursor.next();
      if (more !== undefined) await more;
    }
    await cursor.close();
    expect(walked).toEqual((await all(entries)).map((e) => e.name));
    await entries.close();
  });
});
