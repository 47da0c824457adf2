import type { Etcd3 } from 'etcd3';
import type { EtcdConfig } from '../config/types.js';
import { isExpiring, type KeyRecord } from '../core/key-record.js';
import type { ExistingKey } from '../core/restore-plan.js';
import { toEtcdError } from './errors.js';
import type { RestoreTarget } from './restore-target.js';

interface RangeKv {
  value: Buffer;
  lease: string;
}

/**
 * Restores into a v3 etcd: one transaction per batch (the caller keeps batches within etcd's --max-txn-ops and
 * --max-request-bytes). Keys that had a lease get a fresh lease granted with their remaining TTL; keys that shared
 * a lease share the new one. The new leases are not kept alive: they expire as the old ones would have.
 */
export class V3Target implements RestoreTarget {
  readonly apiVersion = 'v3' as const;
  private readonly leases = new Map<string, Promise<string>>();

  constructor(
    private readonly etcd: Etcd3,
    private readonly cfg: EtcdConfig,
  ) {}

  async existing(keys: readonly Buffer[]): Promise<Array<ExistingKey | undefined>> {
    try {
      const res = await this.etcd.kv.txn({ success: keys.map((key) => ({ request_range: { key } })) });
      return existingOf(res.responses);
    } catch (err) {
      throw toEtcdError(err, 'reading the keys to restore', this.cfg);
    }
  }

  async write(records: readonly KeyRecord[]): Promise<void> {
    const ops = await this.puts(records);
    try {
      await this.etcd.kv.txn({ success: ops });
    } catch (err) {
      throw toEtcdError(err, 'writing restored keys', this.cfg);
    }
  }

  async createIfAbsent(keys: readonly Buffer[], records: readonly KeyRecord[]): Promise<Array<ExistingKey | undefined> | undefined> {
    const ops = await this.puts(records);
    let res;
    try {
      res = await this.etcd.kv.txn({
        // etcd's --max-txn-ops limits compares, success and failure ops each, not their sum.
        compare: keys.map((key) => ({ key, target: 'Version' as const, result: 'Equal' as const, version: 0 })),
        success: ops,
        failure: keys.map((key) => ({ request_range: { key } })),
      });
    } catch (err) {
      throw toEtcdError(err, 'writing restored keys', this.cfg);
    }
    return res.succeeded ? undefined : existingOf(res.responses);
  }

  private puts(records: readonly KeyRecord[]) {
    return Promise.all(
      records.map(async (r) => ({
        request_put: { key: r.key, value: r.value, ...(isExpiring(r) && { lease: await this.leaseFor(r) }) },
      })),
    );
  }

  close(): void {}

  private leaseFor(r: KeyRecord): Promise<string> {
    // v3 dumps name the source lease; v2 dumps have TTLs only, so keys with equal TTLs share a lease.
    const id = r.lease ?? `ttl:${r.ttl}`;
    let lease = this.leases.get(id);
    if (!lease) {
      lease = this.etcd.leaseClient.leaseGrant({ TTL: Math.max(1, r.ttl ?? 1) }).then(
        (res) => res.ID,
        (err: unknown) => {
          this.leases.delete(id);
          throw toEtcdError(err, 'granting a lease for restored keys', this.cfg);
        },
      );
      this.leases.set(id, lease);
    }
    return lease;
  }
}

/** What a transaction's range responses say the target holds, key by key. */
function existingOf(responses: ReadonlyArray<{ response_range?: { kvs?: unknown[] } }>): Array<ExistingKey | undefined> {
  return responses.map((r) => {
    const kv = r.response_range?.kvs?.[0] as unknown as RangeKv | undefined;
    return kv === undefined ? undefined : { value: kv.value, expiring: kv.lease !== '0' };
  });
}
