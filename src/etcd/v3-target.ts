import type { Etcd3 } from 'etcd3';
import type { EtcdConfig } from '../config/types.js';
import { isExpiring, type KeyRecord } from '../core/key-record.js';
import type { ExistingKey } from '../core/restore-plan.js';
import { EtcdError, describeError } from '../core/errors.js';
import { toEtcdError } from './errors.js';
import { REPLY_LIMIT_TEXT, SAFE_KEYS_PER_REPLY, isReplyTooLarge } from './reply-budget.js';
import { printableBytes } from '../core/printable.js';
import { rawTxn } from './raw-txn.js';
import { encodeTxn, txnSucceeded } from './txn-codec.js';
import type { RestoreTarget } from './restore-target.js';

interface RangeKv {
  value: Buffer;
  lease: string;
  create_revision: string;
}

/** What the target holds for a key (undefined: nothing), with the revision that created it. */
type Held = RangeKv | undefined;

/**
 * Restores into a v3 etcd: one transaction per batch (the caller keeps batches within etcd's --max-txn-ops and
 * --max-request-bytes). Keys that had a lease get a fresh lease granted with their remaining TTL; keys that shared
 * a lease share the new one. The new leases are not kept alive: they expire as the old ones would have.
 */
export class V3Target implements RestoreTarget {
  readonly apiVersion = 'v3' as const;
  private readonly granted = new Map<string, Promise<string>>();
  /** The target's revision before this restore wrote anything (see createIfAbsent). */
  private before?: Promise<number>;

  constructor(
    private readonly etcd: Etcd3,
    private readonly cfg: EtcdConfig,
  ) {}

  async existing(keys: readonly Buffer[]): Promise<Array<ExistingKey | undefined>> {
    return (await this.held(keys)).map(existingOf);
  }

  /**
   * What the target holds for the keys, read in transactions of at most SAFE_KEYS_PER_REPLY keys: the batch was
   * sized by the dump's values, but the reply carries the target's, which may be ~1 MB each (128 of them would be a
   * 128 MB reply). A read refused for size all the same (values over etcd's default request limit) is split in two.
   */
  private async held(keys: readonly Buffer[]): Promise<Held[]> {
    const out: Held[] = [];
    for (let i = 0; i < keys.length; i += SAFE_KEYS_PER_REPLY) out.push(...(await this.read(keys.slice(i, i + SAFE_KEYS_PER_REPLY))));
    return out;
  }

  private async read(keys: readonly Buffer[]): Promise<Held[]> {
    try {
      const res = await this.etcd.kv.txn({ success: keys.map((key) => ({ request_range: { key } })) });
      return res.responses.map((r) => r.response_range?.kvs?.[0] as unknown as Held);
    } catch (err) {
      if (isReplyTooLarge(err) && keys.length > 1) {
        const half = Math.ceil(keys.length / 2);
        return [...(await this.read(keys.slice(0, half))), ...(await this.read(keys.slice(half)))];
      }
      if (isReplyTooLarge(err)) {
        throw new EtcdError(
          `reading the keys to restore failed at ${this.cfg.endpoints.join(',')}: the value the target holds for ` +
            `"${printableBytes(keys[0]!)}" is larger than the ${REPLY_LIMIT_TEXT} a reply may hold`,
          { cause: err },
        );
      }
      throw toEtcdError(err, 'reading the keys to restore', this.cfg);
    }
  }

  /**
   * Writes the records in one transaction. One refused as too large (a target whose --max-request-bytes or
   * --max-txn-ops is below the source's, which the batches are sized for) is split in two, down to single keys: a key
   * that the target cannot take alone is named, with its size.
   */
  async write(records: readonly KeyRecord[]): Promise<void> {
    await this.revisionBefore(records[0]!.key);
    const leases = await this.leases(records);
    try {
      await rawTxn(this.etcd, encodeTxn([], records, leases));
    } catch (err) {
      if (isRequestTooLarge(err) && records.length > 1) {
        const half = Math.ceil(records.length / 2);
        await this.write(records.slice(0, half));
        return this.write(records.slice(half));
      }
      // A transaction wraps its put in a few bytes more: a value put alone at etcd's very limit (`etcdctl put`)
      // fits no transaction of the same limit, so it is put alone, as it was written.
      if (isRequestTooLarge(err) && (await this.putAlone(records[0]!, leases?.[0]))) return;
      if (isRequestTooLarge(err)) {
        const r = records[0]!;
        throw new EtcdError(
          `writing restored keys failed at ${this.cfg.endpoints.join(',')}: "${printableBytes(r.key)}" with its value ` +
            `(${r.key.length + r.value.length} bytes) is more than this etcd takes in one request (its --max-request-bytes, ` +
            `lower than the source's): raise it on the target, or leave the key out of the restore (${describeError(err)})`,
          { cause: err },
        );
      }
      throw toEtcdError(err, 'writing restored keys', this.cfg);
    }
  }

  /** One record as a plain put (with its new lease); false when etcd refuses it for its size too. */
  private async putAlone(r: KeyRecord, lease: string | undefined): Promise<boolean> {
    try {
      await this.etcd.kv.put({ key: r.key, value: r.value, ...(lease !== undefined && { lease }) });
      return true;
    } catch (err) {
      if (isRequestTooLarge(err)) return false;
      throw toEtcdError(err, 'writing restored keys', this.cfg);
    }
  }

  /**
   * Creates the records if none of the keys exists, in one transaction. When some exist it reads what the target holds
   * (in a read of its own: the transaction's reply would carry every value at once). A transaction that etcd applied
   * but whose answer was lost (the connection dropped) is sent again by the client's retry and finds its own keys:
   * keys created after this restore began, with exactly the values and expiry written, are that earlier attempt's,
   * and count as written rather than as `unchanged`.
   */
  async createIfAbsent(keys: readonly Buffer[], records: readonly KeyRecord[]): Promise<Array<ExistingKey | undefined> | undefined> {
    const before = await this.revisionBefore(keys[0]!);
    const leases = await this.leases(records);
    let succeeded;
    try {
      // etcd's --max-txn-ops limits compares, success and failure ops each, not their sum.
      succeeded = txnSucceeded(await rawTxn(this.etcd, encodeTxn(keys, records, leases)));
    } catch (err) {
      // Too large for this target: say what it holds instead, so that the keys go through write(), which splits.
      if (isRequestTooLarge(err)) return (await this.held(keys)).map(existingOf);
      throw toEtcdError(err, 'writing restored keys', this.cfg);
    }
    if (succeeded) return undefined;
    const held = await this.held(keys);
    return appliedUnanswered(keys, records, held, before) ? undefined : held.map(existingOf);
  }

  async prepare(key: Buffer): Promise<void> {
    await this.revisionBefore(key);
  }

  /**
   * The target's revision when the restore began: read once, before the first write. Any range's header carries it;
   * `key` (one the restore is about to write) is read because a user whose role covers only the prefixes it restores
   * (`readwrite --prefix /registry`) may read nothing else.
   */
  private revisionBefore(key: Buffer): Promise<number> {
    this.before ??= this.etcd.kv.range({ key, count_only: true }).then(
      (res) => Number(res.header.revision),
      (err: unknown) => {
        this.before = undefined;
        throw toEtcdError(err, 'reading the revision of the target', this.cfg);
      },
    );
    return this.before;
  }

  /**
   * The new lease of each record that had one (undefined for the others), or undefined when none had: only keys with
   * a lease wait (for its grant), and a restore's keys mostly have none.
   */
  private async leases(records: readonly KeyRecord[]): Promise<Array<string | undefined> | undefined> {
    const leases = records.map((r) => (isExpiring(r) ? this.leaseFor(r) : undefined));
    return leases.every((l) => l === undefined) ? undefined : Promise.all(leases);
  }

  close(): void {}

  private leaseFor(r: KeyRecord): Promise<string> {
    // v3 dumps name the source lease; v2 dumps have TTLs only, so keys with equal TTLs share a lease.
    const id = r.lease ?? `ttl:${r.ttl}`;
    let lease = this.granted.get(id);
    if (!lease) {
      lease = this.etcd.leaseClient.leaseGrant({ TTL: Math.max(1, r.ttl ?? 1) }).then(
        (res) => res.ID,
        (err: unknown) => {
          this.granted.delete(id);
          throw toEtcdError(err, 'granting a lease for restored keys', this.cfg);
        },
      );
      this.granted.set(id, lease);
    }
    return lease;
  }
}

/**
 * etcd refused a request for its size or its number of operations (--max-request-bytes, --max-txn-ops). Over
 * --max-request-bytes plus gRPC's 512 KiB, its gRPC server refuses the message before etcd reads it (RESOURCE_EXHAUSTED,
 * "received message larger than max"): a transaction's reply holds no values, so that is always the request.
 */
function isRequestTooLarge(err: unknown): boolean {
  return /request is too large|too many operations in txn|received message larger than max/i.test(describeError(err));
}

/** What the restore planner is told of a key the target holds. */
function existingOf(held: Held): ExistingKey | undefined {
  return held === undefined ? undefined : { value: held.value, expiring: held.lease !== '0' };
}

/**
 * True when the target holds exactly the records, created after `before`, and none of the other keys: a transaction
 * of this restore that was applied without an answer.
 */
function appliedUnanswered(keys: readonly Buffer[], records: readonly KeyRecord[], held: readonly Held[], before: number): boolean {
  const wanted = new Map(records.map((r) => [r.key.toString('latin1'), r]));
  return keys.every((key, i) => {
    const r = wanted.get(key.toString('latin1'));
    const h = held[i];
    if (r === undefined) return h === undefined;
    return h !== undefined && Number(h.create_revision) > before && h.value.equals(r.value) && (h.lease !== '0') === isExpiring(r);
  });
}
