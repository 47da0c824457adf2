import { isExpiring, type KeyRecord } from '../core/key-record.js';
import type { ExistingKey } from '../core/restore-plan.js';
import type { RestoreTarget } from './restore-target.js';
import type { V2Client } from './v2-client.js';

const IN_FLIGHT = 8;

async function eachLimited<T, R>(items: readonly T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, items.length) }, worker));
  return out;
}

/** Restores into a v2 etcd: a PUT per key (with the remaining TTL of expiring keys), a few in flight. */
export class V2Target implements RestoreTarget {
  readonly apiVersion = 'v2' as const;

  constructor(private readonly v2: V2Client) {}

  existing(keys: readonly Buffer[]): Promise<Array<ExistingKey | undefined>> {
    return eachLimited(keys, async (key) => {
      const got = await this.v2.get(key);
      if (!got) return undefined;
      return { value: Buffer.from(got.node.value ?? ''), expiring: got.node.ttl !== undefined };
    });
  }

  async write(records: readonly KeyRecord[]): Promise<void> {
    await eachLimited(records, (r) => this.v2.put(r.key, r.value, isExpiring(r) ? { ttl: Math.max(1, r.ttl ?? 1) } : {}));
  }

  close(): void {
    this.v2.close();
  }
}
