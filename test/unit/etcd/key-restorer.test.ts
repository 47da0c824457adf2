import { describe, expect, it } from 'vitest';
import type { KeyRecord } from '../../../src/core/key-record.js';
import type { ExistingKey } from '../../../src/core/restore-plan.js';
import { EtcdUnansweredError } from '../../../src/etcd/errors.js';
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
  /** Makes the failing write one that etcd applied without answering. */
  failUnanswered = false;

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
      if (this.writes.length + 1 === this.failOnWrite) {
        if (!this.failUnanswered) throw new Error('etcd went away');
        for (const r of records) this.data.set(r.key.toString('latin1'), r.value);
        this.failOnWrite = 0;
        throw new EtcdUnansweredError('writing restored keys failed at x: etcd is unreachable or went away');
      }
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
  it('writes every key once, in transactions of at most 128 ops and 1 MiB, eight in flight', async () => {
    const target = new MemoryTarget();
    const records = Array.from({ length: 1500 }, (_, i) => rec(i, i % 10 === 0 ? 60_000 : 300));
    const r = await restoreAll(target, records);
    expect(r.written).toBe(1500);
    expect(target.data.size).toBe(1500);
    for (const w of target.writes) {
      expect(w.length).toBeLessThanOrEqual(128);
      expect(w.reduce((n, x) => n + x.key.length + x.value.length + 32, 0)).toBeLessThanOrEqual(1024 * 1024);
    }
    expect(target.maxInFlight).toBe(8);
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

describe('key restorer when etcd stops answering', () => {
  it('counts the keys of a write that was sent and never answered as in doubt, not as written', async () => {
    const target = new MemoryTarget();
    target.failOnWrite = 3;
    target.failUnanswered = true;
    const r = new KeyRestorer(target, { dryRun: false, skipExisting: false });
    await expect(async () => {
      for (let i = 0; i < 2000; i++) await r.add(rec(i), 'pods');
      await r.drain();
    }).rejects.toBeInstanceOf(EtcdUnansweredError);
    await r.drain().catch(() => undefined);
    expect(r.inDoubt).toBe(128);
    expect(r.written + r.inDoubt).toBe(target.data.size);
  });
});

/** The same target, with etcd's compare-and-create transaction: writes only when none of the keys exists. */
class CreatingTarget extends MemoryTarget {
  creates = 0;
  refused = 0;
  reads = 0;

  override async existing(keys: readonly Buffer[]): Promise<Array<ExistingKey | undefined>> {
    this.reads++;
    return super.existing(keys);
  }

  async createIfAbsent(keys: readonly Buffer[], records: readonly KeyRecord[]): Promise<Array<ExistingKey | undefined> | undefined> {
    const existing = await super.existing(keys);
    if (existing.some((e) => e !== undefined)) {
      this.refused++;
      return existing;
    }
    this.creates++;
    await this.write(records);
    return undefined;
  }
}

describe('key restorer into a target that can create if absent', () => {
  it('writes each batch in the round trip that checks it is absent, reading nothing first', async () => {
    const target = new CreatingTarget();
    const records = Array.from({ length: 1000 }, (_, i) => ({ ...rec(i), ...(i % 100 === 0 && { ttl: 0, lease: '7' }) }));
    const r = await restoreAll(target, records);
    expect(target.reads).toBe(0);
    expect(target.creates).toBe(Math.ceil(1000 / 128));
    expect(r.written).toBe(990);
    expect(target.data.size).toBe(990);
    expect(r.plan.totals()).toMatchObject({ create: 990, skipped: 10, keys: 1000 });
    expect(r.bytesWritten).toBe(records.filter((x) => x.ttl === undefined).reduce((n, x) => n + x.key.length + x.value.length, 0));
  });

  it('decides as a read-first restore would once keys exist, and reads first from then on', async () => {
    const records = Array.from({ length: 1000 }, (_, i) => rec(i));
    const plain = new MemoryTarget();
    const creating = new CreatingTarget();
    for (const t of [plain, creating]) {
      for (const i of [5, 600, 601]) t.data.set(records[i]!.key.toString('latin1'), records[i]!.value);
      t.data.set(records[700]!.key.toString('latin1'), Buffer.from('other'));
    }
    const a = await restoreAll(plain, records, { dryRun: false, skipExisting: true });
    const b = await restoreAll(creating, records, { dryRun: false, skipExisting: true });
    expect(b.plan.totals()).toEqual(a.plan.totals());
    expect(b.written).toBe(a.written);
    expect([...creating.data].sort()).toEqual([...plain.data].sort());
    expect(creating.refused).toBeGreaterThanOrEqual(1);
    expect(creating.refused + creating.creates).toBeLessThanOrEqual(4); // only the first batches, in flight together
  });
});

describe('v2 key paths', () => {
  it('percent-encodes every byte but unreserved ones and slashes', () => {
    expect(encodeKeyPath('/registry/configmaps/default/with space:and%41')).toBe('/registry/configmaps/default/with%20space%3Aand%2541');
    expect(encodeKeyPath(Buffer.from([0x2f, 0x00, 0xff]))).toBe('/%00%FF');
    expect(encodeKeyPath('/a/ü')).toBe('/a/%C3%BC');
  });
});
