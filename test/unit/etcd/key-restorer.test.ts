import { describe, expect, it } from 'vitest';
import type { KeyRecord } from '../../../src/core/key-record.js';
import type { ExistingKey } from '../../../src/core/restore-plan.js';
import { KeyRestorer } from '../../../src/etcd/key-restorer.js';
import type { RestoreTarget } from '../../../src/etcd/restore-target.js';
import { encodeKeyPath } from '../../../src/etcd/v2-client.js';

/** An in-memory etcd standing in for the target, recording each write and how many were in flight. */
class MemoryTarget implements RestoreTarget {
  readonly apiVersion = 'v3' as const;
  readonly data = new Map<string, Buffer>();
  writes: KeyRecord[][] = [];
  inFlight = 0;
  maxInFlight = 0;
  failOnWrite?: number;

  async existing(keys: readonly Buffer[]): Promise<Array<ExistingKey | undefined>> {
    return keys.map((k) => {
      const v = this.data.get(k.toString('latin1'));
      return v ? { value: v, expiring: false } : undefined;
    });
  }

  async write(records: readonly KeyRecord[]): Promise<void> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await new Promise((r) => setTimeout(r, 2));
      if (this.writes.length + 1 === this.failOnWrite) throw new Error('etcd went away');
      this.writes.push([...records]);
      for (const r of records) this.data.set(r.key.toString('latin1'), r.value);
    } finally {
      this.inFlight--;
    }
  }

  close(): void {}
}

const rec = (i: number, size = 100): KeyRecord => ({ key: Buffer.from(`/registry/pods/ns/p-${i}`), value: Buffer.alloc(size, i % 256), createRevision: i, modRevision: i, version: 1 });

async function restoreAll(target: MemoryTarget, records: KeyRecord[], opts = { dryRun: false, skipExisting: false }): Promise<KeyRestorer> {
  const r = new KeyRestorer(target, opts);
  for (const record of records) await r.add(record, 'pods');
  await r.drain();
  return r;
}

describe('key restorer', () => {
  it('writes every key once, in transactions of at most 128 ops and 1 MiB, four in flight', async () => {
    const target = new MemoryTarget();
    const records = Array.from({ length: 1500 }, (_, i) => rec(i, i % 10 === 0 ? 60_000 : 300));
    const r = await restoreAll(target, records);
    expect(r.written).toBe(1500);
    expect(target.data.size).toBe(1500);
    for (const w of target.writes) {
      expect(w.length).toBeLessThanOrEqual(128);
      expect(w.reduce((n, x) => n + x.key.length + x.value.length + 32, 0)).toBeLessThanOrEqual(1024 * 1024);
    }
    expect(target.maxInFlight).toBe(4);
    expect(r.plan.totals()).toMatchObject({ create: 1500, keys: 1500 });
  });

  it('plans without writing on a dry run, and leaves unchanged keys unwritten', async () => {
    const target = new MemoryTarget();
    const records = Array.from({ length: 300 }, (_, i) => rec(i));
    const dry = await restoreAll(target, records, { dryRun: true, skipExisting: false });
    expect(target.writes).toHaveLength(0);
    expect(dry.plan.totals().create).toBe(300);
    await restoreAll(target, records.slice(0, 100));
    target.writes = [];
    target.data.set(records[150]!.key.toString('latin1'), Buffer.from('other'));
    const again = await restoreAll(target, records);
    expect(again.plan.totals()).toMatchObject({ unchanged: 100, update: 1, create: 199 });
    expect(again.written).toBe(200);
  });

  it('after a failed write starts nothing new and reports exactly what was written', async () => {
    const target = new MemoryTarget();
    target.failOnWrite = 5;
    const r = new KeyRestorer(target, { dryRun: false, skipExisting: false });
    let failure: unknown;
    try {
      for (let i = 0; i < 2000; i++) await r.add(rec(i), 'pods');
      await r.drain();
    } catch (err) {
      failure = err;
    }
    await r.drain().catch(() => undefined);
    expect((failure as Error).message).toBe('etcd went away');
    expect(r.written).toBe(target.data.size);
    expect(target.writes.length).toBeLessThanOrEqual(4 + 3);
  });
});

describe('v2 key paths', () => {
  it('percent-encodes every byte but unreserved ones and slashes', () => {
    expect(encodeKeyPath('/registry/configmaps/default/with space:and%41')).toBe('/registry/configmaps/default/with%20space%3Aand%2541');
    expect(encodeKeyPath(Buffer.from([0x2f, 0x00, 0xff]))).toBe('/%00%FF');
    expect(encodeKeyPath('/a/ü')).toBe('/a/%C3%BC');
  });
});
