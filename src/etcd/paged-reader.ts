import type { Etcd3 } from 'etcd3';
import type { EtcdConfig } from '../config/types.js';
import { EtcdError, describeError } from '../core/errors.js';
import type { KeyRecord } from '../core/key-record.js';
import { toEtcdError } from './errors.js';
import type { KeyRange } from './key-ranges.js';
import { ReadCompactedError, compactedRevision } from './read-compacted.js';
import { RangeCursor } from './range-cursor.js';
import { variableOf } from './tls-check.js';
import { REPLY_LIMIT_TEXT, SAFE_KEYS_PER_REPLY, isReplyTooLarge } from './reply-budget.js';
import { printableBytes } from '../core/printable.js';

/**
 * Page sizing: pages grow to about this many bytes. Each page is held a few times over on its way (the gRPC message,
 * the dump's tar bytes, gzip blocks) and garbage-collected late, so this sets most of a dump's RSS: with gzip, 4 MiB
 * pages peaked at ~200 MB, 2 MiB pages at ~170 MB, 1 MiB at ~165 MB. Windowed reads make smaller pages cost etcd
 * little more; 2 MiB also halved the system time of 4 MiB (each page's buffers were fresh mmaps).
 */
const TARGET_PAGE_BYTES = 2 * 1024 * 1024;
/**
 * The first page is small; later ones are sized from the bytes seen, and none asks for more keys than a reply can
 * hold at the largest size a value can have (SAFE_KEYS_PER_REPLY): the next keys may be far bigger than the last.
 */
const FIRST_PAGE_KEYS = 8;
const MAX_PAGE_KEYS = SAFE_KEYS_PER_REPLY;
/** A request's window is aimed at this many pages, and at least MIN_WINDOW_KEYS keys (see range-cursor.ts). */
const WINDOW_PAGES = 4;
const MIN_WINDOW_KEYS = 256;
/**
 * The next page is asked for while the consumer handles this one when this one was at most this big: etcd's work and
 * ours overlap, at the cost of one more page in memory (at most a reply's limit, and only after a small page).
 */
const PREFETCH_AFTER_BYTES = 2 * TARGET_PAGE_BYTES;
/** Distinct leases whose TTL is remembered (Kubernetes shares one lease among many events). */
const LEASE_CACHE = 10_000;
const LEASE_LOOKUPS_IN_FLIGHT = 8;

interface RangeReply {
  kvs: unknown[];
  more: boolean;
  header: { cluster_id: string };
}

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
 * few pages (see range-cursor.ts) so that etcd never counts more than that. Pages are sized by bytes, and never ask
 * for more keys than a reply can hold whatever the values (reply-budget.ts); a page refused for size all the same
 * (values over etcd's default request limit) is asked for again with fewer keys. Each key with a lease gets that
 * lease's remaining TTL (one lookup per lease). Memory holds the page being handled and, after a small one, the next.
 */
export class PagedReader {
  revision = 0;
  keys = 0;
  bytes = 0;
  private pageKeys: number;
  private readonly maxPageKeys: number;
  private readonly targetBytes: number;
  private readonly leaseTtls = new Map<string, number>();
  /** The cluster the one-cluster check found, else the one that answered the first read: every page must come from it. */
  private clusterId?: string;
  /** When the revision was pinned: how long the read had run when etcd compacted past it. */
  private startedAt = 0;

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
      this.clusterId = this.cfg.checkedCluster ?? res.header.cluster_id;
      this.sameCluster(res);
      this.startedAt = Date.now();
    } catch (err) {
      throw toEtcdError(err, 'reading etcd', this.cfg);
    }
    return this.revision;
  }

  /** Every key of the ranges, a page at a time, in key order. */
  async *pages(): AsyncGenerator<KeyRecord[]> {
    if (this.revision === 0) await this.start();
    for (const range of this.ranges) yield* this.rangePages(range);
  }

  private async *rangePages(range: KeyRange): AsyncGenerator<KeyRecord[]> {
    const cursor = new RangeCursor(range);
    let next: Promise<RangeReply> | undefined;
    while (!cursor.done) {
      const res = await (next ?? this.page(cursor.from, cursor.end));
      next = undefined;
      this.sameCluster(res);
      const kvs = res.kvs as unknown as RawKv[];
      let bytes = 0;
      for (const kv of kvs) bytes += kv.key.length + kv.value.length;
      this.resize(kvs.length, bytes);
      cursor.advance(kvs.map((kv) => kv.key), res.more, Math.max(MIN_WINDOW_KEYS, this.pageKeys * WINDOW_PAGES));
      if (!cursor.done && bytes <= PREFETCH_AFTER_BYTES) {
        next = this.page(cursor.from, cursor.end);
        // Handled when awaited; a consumer that stops early leaves it to end on its own.
        next.catch(() => undefined);
      }
      if (kvs.length === 0) continue;
      const records = await this.withLeases(kvs);
      this.keys += records.length;
      this.bytes += bytes;
      yield records;
    }
  }

  private async page(from: Buffer, end: Buffer): Promise<RangeReply> {
    for (;;) {
      try {
        // Serializable: data at a revision never changes, so any member that has applied it answers alike, without a
        // round of the leader's per page (a member behind says so, and the read is retried).
        return await this.client.kv.range({ key: from, range_end: end, revision: this.revision, limit: this.pageKeys, serializable: true });
      } catch (err) {
        const text = describeError(err);
        if (isReplyTooLarge(err)) {
          // Values over etcd's default request limit (a raised --max-request-bytes): ask for fewer keys and try again.
          if (this.pageKeys > 1) {
            this.pageKeys = Math.max(1, Math.floor(this.pageKeys / 4));
            continue;
          }
          // `from` is a range's start, or the last key read followed by a 0 byte.
          const after = from[from.length - 1] === 0 ? `the key after "${printableBytes(from.subarray(0, -1))}"` : `the first key from "${printableBytes(from)}"`;
          throw new EtcdError(
            `reading keys at revision ${this.revision} failed at ${this.cfg.endpoints.join(',')}: ${after} is larger ` +
              `than the ${REPLY_LIMIT_TEXT} a reply may hold (${text})`,
            { cause: err },
          );
        }
        if (/compacted/i.test(text)) {
          const compacted = await compactedRevision(this.client, this.revision);
          throw new ReadCompactedError(this.revision, compacted, Date.now() - this.startedAt, { cause: err });
        }
        throw toEtcdError(err, `reading keys at revision ${this.revision}`, this.cfg);
      }
    }
  }

  /**
   * Endpoints of two clusters (pasted from two environments, a member left on its own after a restore made a new
   * cluster) answer pages at the same revision with other keys: the dump would mix them. Refused instead.
   */
  private sameCluster(res: RangeReply): void {
    const id = res.header?.cluster_id;
    if (this.clusterId === undefined || id === undefined || id === this.clusterId) return;
    throw new EtcdError(
      `reading keys at revision ${this.revision} failed: the endpoints of ${variableOf(this.cfg, 'endpoints')} answer as different etcd ` +
        `clusters (${this.clusterId}, then ${id}): give the client URLs of one cluster's members ("reshifter explore --endpoints URL" shows each one's members)`,
    );
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
