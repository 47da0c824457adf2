import type { Etcd3 } from 'etcd3';
import type { EtcdConfig } from '../config/types.js';
import { EtcdError, describeError } from '../core/errors.js';
import type { KeyRecord } from '../core/key-record.js';
import { toEtcdError } from './errors.js';
import type { KeyRange } from './key-ranges.js';

/** Page sizing: pages grow to about this many bytes (etcd spends less CPU per byte on big pages; see performance notes). */
const TARGET_PAGE_BYTES = 4 * 1024 * 1024;
const FIRST_PAGE_KEYS = 500;
const MAX_PAGE_KEYS = 5000;
/** Distinct leases whose TTL is remembered (Kubernetes shares one lease among many events). */
const LEASE_CACHE = 10_000;
const LEASE_LOOKUPS_IN_FLIGHT = 8;

interface RawKv {
  key: Buffer;
  value: Buffer;
  create_revision: string;
  mod_revision: string;
  version: string;
  lease: string;
}

export interface PagedReadOptions {
  /** Keys in the first page; later pages are sized from the bytes seen. */
  firstPageKeys?: number;
  maxPageKeys?: number;
  targetPageBytes?: number;
}

/**
 * Reads key ranges of a v3 etcd in pages, every page at the revision pinned by `start()`, so the whole read is one
 * point in time however long it takes; each page continues after the last key of the one before. Pages are sized by
 * bytes as well as keys, so no response is large, and a page refused for size is retried smaller. Each key with a
 * lease gets that lease's remaining TTL (one lookup per lease). Memory holds one page at a time.
 */
export class PagedReader {
  revision = 0;
  keys = 0;
  bytes = 0;
  private pageKeys: number;
  private readonly maxPageKeys: number;
  private readonly targetBytes: number;
  private readonly leaseTtls = new Map<string, number>();

  constructor(
    private readonly client: Etcd3,
    private readonly cfg: EtcdConfig,
    private readonly ranges: readonly KeyRange[],
    opts: PagedReadOptions = {},
  ) {
    this.maxPageKeys = opts.maxPageKeys ?? MAX_PAGE_KEYS;
    this.pageKeys = Math.min(opts.firstPageKeys ?? FIRST_PAGE_KEYS, this.maxPageKeys);
    this.targetBytes = opts.targetPageBytes ?? TARGET_PAGE_BYTES;
  }

  /** Pins the revision: the header revision of a count-only read of the first range. */
  async start(): Promise<number> {
    const first = this.ranges[0] ?? { start: Buffer.from([0]), end: Buffer.from([0]) };
    try {
      const res = await this.client.kv.range({ key: first.start, range_end: first.end, count_only: true });
      this.revision = Number(res.header.revision);
    } catch (err) {
      throw toEtcdError(err, 'reading etcd', this.cfg);
    }
    return this.revision;
  }

  /** Every key of the ranges, a page at a time, in key order. */
  async *pages(): AsyncGenerator<KeyRecord[]> {
    if (this.revision === 0) await this.start();
    for (const range of this.ranges) {
      let from = range.start;
      for (;;) {
        const res = await this.page(from, range.end);
        const kvs = res.kvs as unknown as RawKv[];
        if (kvs.length === 0) break;
        const records = await this.withLeases(kvs);
        let bytes = 0;
        for (const r of records) bytes += r.key.length + r.value.length;
        this.keys += records.length;
        this.bytes += bytes;
        this.resize(kvs.length, bytes);
        yield records;
        if (!res.more) break;
        // The next page starts right after the last key: key + "\0" is the smallest key greater than it.
        from = Buffer.concat([kvs[kvs.length - 1]!.key, Buffer.from([0])]);
      }
    }
  }

  private async page(from: Buffer, end: Buffer): Promise<{ kvs: unknown[]; more: boolean }> {
    for (;;) {
      try {
        return await this.client.kv.range({ key: from, range_end: end, revision: this.revision, limit: this.pageKeys });
      } catch (err) {
        const text = describeError(err);
        if (/larger than max|resource.?exhausted/i.test(text) && this.pageKeys > 1) {
          // A few huge values in one page: ask for fewer keys and try again.
          this.pageKeys = Math.max(1, Math.floor(this.pageKeys / 4));
          continue;
        }
        if (/compacted/i.test(text)) {
          throw new EtcdError(
            `reading etcd at revision ${this.revision} failed: etcd compacted that revision during the read (auto-compaction); run it again`,
            { cause: err },
          );
        }
        throw toEtcdError(err, `reading keys at revision ${this.revision}`, this.cfg);
      }
    }
  }

  private resize(keys: number, bytes: number): void {
    if (keys < this.pageKeys) return;
    const perKey = Math.max(1, bytes / keys);
    const wanted = Math.floor(this.targetBytes / perKey);
    this.pageKeys = Math.max(1, Math.min(this.maxPageKeys, wanted, this.pageKeys * 4));
  }

  private async withLeases(kvs: RawKv[]): Promise<KeyRecord[]> {
    const missing = [...new Set(kvs.map((kv) => kv.lease).filter((l) => l !== '0' && !this.leaseTtls.has(l)))];
    for (let i = 0; i < missing.length; i += LEASE_LOOKUPS_IN_FLIGHT) {
      await Promise.all(missing.slice(i, i + LEASE_LOOKUPS_IN_FLIGHT).map((id) => this.lookupLease(id)));
    }
    return kvs.map((kv) => {
      const r: KeyRecord = {
        key: kv.key,
        value: kv.value,
        createRevision: Number(kv.create_revision),
        modRevision: Number(kv.mod_revision),
        version: Number(kv.version),
      };
      if (kv.lease !== '0') {
        r.lease = kv.lease;
        r.ttl = this.leaseTtls.get(kv.lease) ?? 0;
      }
      return r;
    });
  }

  private async lookupLease(id: string): Promise<void> {
    let ttl: number;
    try {
      const res = await this.client.leaseClient.leaseTimeToLive({ ID: id });
      ttl = Math.max(0, Number(res.TTL));
    } catch (err) {
      // The lease expired between the pinned revision and now: its keys are gone already.
      if (!/lease not found/i.test(describeError(err))) throw toEtcdError(err, `reading lease ${id}`, this.cfg);
      ttl = 0;
    }
    if (this.leaseTtls.size >= LEASE_CACHE) this.leaseTtls.delete(this.leaseTtls.keys().next().value!);
    this.leaseTtls.set(id, ttl);
  }
}

/** How many keys lie under a range (one count-only read). */
export async function countKeys(client: Etcd3, range: KeyRange): Promise<number> {
  const res = await client.kv.range({ key: range.start, range_end: range.end, count_only: true });
  return Number(res.count);
}
