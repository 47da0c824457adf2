import { isExpiring, type KeyRecord } from '../core/key-record.js';
import { mapLimited } from '../core/map-limited.js';
import type { ExistingKey } from '../core/restore-plan.js';
import type { RestoreTarget } from './restore-target.js';
import type { V2Client } from './v2-client.js';

const IN_FLIGHT = 8;

/** Restores into a v2 etcd: a PUT per key (with the remaining TTL of expiring keys), a few in flight. */
export class V2Target implements RestoreTarget {
  readonly apiVersion = 'v2' as const;

  constructor(private readonly v2: V2Client) {}

  existing(keys: readonly Buffer[]): Promise<Array<ExistingKey | undefined>> {
    return mapLimited(keys, IN_FLIGHT, async (key) => {
      const got = await this.v2.get(key);
      if (!got) return undefined;
      return { value: Buffer.from(got.node.value ?? ''), expiring: got.node.ttl !== undefined };
    });
  }

  async write(records: readonly KeyRecord[]): Promise<void> {
    await mapLimited(records, IN_FLIGHT, (r) => this.v2.put(r.key, r.value, isExpiring(r) ? { ttl: Math.max(1, r.ttl ?? 1) } : {}));
  }

  close(): void {
    this.v2.close();
  }
}
