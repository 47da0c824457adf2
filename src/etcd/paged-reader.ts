import type { Etcd3 } from 'etcd3';
import type { EtcdConfig } from '../config/types.js';
import { EtcdError, describeError } from '../core/errors.js';
import type { KeyRecord } from '../core/key-record.js';
import { toEtcdError } from './errors.js';
import { isOpenEnd, keySpacing, keyWindowEnd, type KeyRange, type KeySpacing } from './key-ranges.js';

/**
 * Page sizing: pages grow to about this many bytes. Each page is held a few times over on its way (the gRPC message,
 * the dump's tar bytes, gzip blocks) and garbage-collected late, so this sets most of a dump's RSS: with gzip, 4 MiB
 * pages peaked at ~200 MB, 2 MiB pages at ~170 MB, 1 MiB at ~165 MB. Windowed reads (below) make smaller pages cost
 * etcd little more; 2 MiB also halved the system time of 4 MiB (each page's buffers were fresh mmaps).
 */
const TARGET_PAGE_BYTES = 2 * 1024 * 1024;
/**
 * Pages are read in windows of about this many pages: a range request with a limit makes etcd walk its index over the
 * whole range [from, end) to count it (3.4 and 3.5 alike), so paging through N keys unbounded costs O(N^2 / page);
 * for 100k keys in 340-key pages, 6.6 s of etcd CPU instead of 1.6 s. A window's end is guessed from how far apart
 * the keys of the last page lay; any guess is correct (windows are contiguous), a good one only makes it cheap.
 */
const WINDOW_PAGES = 4;
/** Empty windows in a row (each 16 times wider) before a gap is crossed with one request to the range's end. */
const MAX_EMPTY_WINDOWS = 3;
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
 * point in time however long it takes; each page continues after the last key of the one before, within a window of a
 * few pages (see WINDOW_PAGES) so that etcd never counts more than that. Pages are sized by bytes as well as keys,
 * so no response is large, and a page refused for size is retried smaller. Each key with a
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
      // The window being read: [from, windowEnd), or to the range's end while none is set.
      let windowEnd: Buffer | undefined;
      let spacing: KeySpacing | undefined;
      // Grows the next window while windows come out short of a page (a gap in the keys), back to 1 after a full page.
      let scale = 1;
      let emptyWindows = 0;
      const nextWindow = (start: Buffer): Buffer | undefined => {
        if (spacing === undefined) return undefined;
        const end = keyWindowEnd(start, spacing, this.pageKeys * WINDOW_PAGES * scale);
        return end !== undefined && (isOpenEnd(range.end) || Buffer.compare(end, range.end) < 0) ? end : undefined;
      };
      for (;;) {
        const res = await this.page(from, windowEnd ?? range.end);
        const kvs = res.kvs as unknown as RawKv[];
        if (kvs.length > 0) {
          const records = await this.withLeases(kvs);
          let bytes = 0;
          for (const r of records) bytes += r.key.length + r.value.length;
          this.keys += records.length;
          this.bytes += bytes;
          this.resize(kvs.length, bytes);
          spacing = keySpacing(kvs[0]!.key, kvs[kvs.length - 1]!.key, kvs.length) ?? spacing;
          yield records;
        }
        if (res.more && kvs.length > 0) {
          // A full page: on after its last key (key + "\0" is the smallest key greater than it), in a window aimed
          // afresh from this page's spacing, never wider than the one it was in.
          from = Buffer.concat([kvs[kvs.length - 1]!.key, Buffer.from([0])]);
          scale = 1;
          emptyWindows = 0;
          const next = nextWindow(from);
          if (next !== undefined && (windowEnd === undefined || Buffer.compare(next, windowEnd) < 0)) windowEnd = next;
          continue;
        }
        if (windowEnd === undefined) break;
        // The window held less than a page: the next one starts at its end, wider. After a few empty ones (a gap:
        // the end of a resource type), one request to the range's end finds the next key and a new spacing.
        emptyWindows = kvs.length === 0 ? emptyWindows + 1 : 0;
        scale *= kvs.length === 0 ? 16 : 2;
        from = windowEnd;
        windowEnd = emptyWindows > MAX_EMPTY_WINDOWS ? undefined : nextWindow(from);
        if (windowEnd === undefined) emptyWindows = 0;
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
