import type { Etcd3 } from 'etcd3';
import type { DeltaEvent } from '../core/delta-event.js';
import { EtcdError, describeError } from '../core/errors.js';

/**
 * Seconds a lease is granted for when the recording could not learn its TTL (or it had run out when the put was
 * seen): long enough to outlive the replay, short enough that the key goes away soon after the restored cluster starts.
 */
export const UNKNOWN_LEASE_TTL = 60;

export interface ReplayerOptions {
  /** Operations per transaction. */
  maxOps?: number;
  /** Bytes of keys and values per transaction. */
  maxBytes?: number;
}

/** Per-op overhead of a request in a txn (field tags, lengths, lease id). */
const OP_OVERHEAD = 32;

type Op = { request_put: { key: Buffer; value: Buffer; lease?: string } } | { request_delete_range: { key: Buffer } };

/**
 * Applies recorded changes to an etcd (the temporary one of a point-in-time restore), in revision order: puts and
 * deletes gathered into transactions, a transaction sent only after the one before it was applied, and one never
 * holding a key twice (etcd refuses that), so the final state is each key's last change.
 *
 * Leases: a put keeps its lease id. When that lease exists in the etcd (restored from the snapshot, or granted for an
 * earlier put) the key is attached to it; otherwise the lease is granted under the same id with the TTL it was granted
 * with at the source (else what it had left, else UNKNOWN_LEASE_TTL). No leased key becomes permanent.
 */
export class EventReplayer {
  applied = 0;
  /** Bytes of keys and values applied so far. */
  bytesApplied = 0;
  puts = 0;
  deletes = 0;
  transactions = 0;
  private ops: Op[] = [];
  private keys = new Set<string>();
  private bytes = 0;
  private readonly leases = new Map<string, Promise<string>>();
  private readonly maxOps: number;
  private readonly maxBytes: number;

  constructor(
    private readonly client: Etcd3,
    opts: ReplayerOptions = {},
  ) {
    this.maxOps = opts.maxOps ?? 128;
    this.maxBytes = opts.maxBytes ?? 1024 * 1024;
  }

  /** The lease ids the replay attached keys to (for the keeper that keeps them alive during the replay). */
  get leaseIds(): string[] {
    return [...this.leases.keys()];
  }

  async add(e: DeltaEvent): Promise<void> {
    const k = e.key.toString('latin1');
    const size = e.key.length + e.value.length + OP_OVERHEAD;
    if (this.keys.has(k) || this.ops.length >= this.maxOps || (this.ops.length > 0 && this.bytes + size > this.maxBytes)) await this.flush();
    if (e.type === 'delete') {
      this.ops.push({ request_delete_range: { key: e.key } });
      this.deletes++;
    } else {
      const lease = e.lease !== undefined ? await this.leaseFor(e) : undefined;
      this.ops.push({ request_put: { key: e.key, value: e.value, ...(lease !== undefined && { lease }) } });
      this.puts++;
    }
    this.keys.add(k);
    this.bytes += size;
  }

  /** Sends what is gathered. */
  async flush(): Promise<void> {
    if (this.ops.length === 0) return;
    const ops = this.ops;
    const bytes = this.bytes - ops.length * OP_OVERHEAD;
    this.ops = [];
    this.keys = new Set();
    this.bytes = 0;
    try {
      await this.client.kv.txn({ success: ops });
    } catch (err) {
      throw new EtcdError(`replaying recorded changes into the temporary etcd failed: ${describeError(err)}`, { cause: err });
    }
    this.applied += ops.length;
    this.bytesApplied += bytes;
    this.transactions++;
  }

  private leaseFor(e: DeltaEvent): Promise<string> {
    const id = e.lease!;
    let p = this.leases.get(id);
    if (p === undefined) {
      p = this.ensureLease(id, e);
      this.leases.set(id, p);
    }
    return p;
  }

  private async ensureLease(id: string, e: DeltaEvent): Promise<string> {
    try {
      const held = await this.client.leaseClient.leaseTimeToLive({ ID: id });
      if (Number(held.TTL) > 0) return id;
      const ttl = e.grantedTtl ?? (e.ttl !== undefined && e.ttl > 0 ? e.ttl : UNKNOWN_LEASE_TTL);
      await this.client.leaseClient.leaseGrant({ ID: id, TTL: ttl });
      return id;
    } catch (err) {
      throw new EtcdError(`granting lease ${id} in the temporary etcd failed: ${describeError(err)}`, { cause: err });
    }
  }
}
