import type { Etcd3 } from 'etcd3';
import type { SampleKey } from './sample-data.js';

/** Writes keys into etcd (leased ones on a shared lease per TTL), a few requests in flight. Returns the count. */
export async function loadDataset(etcd: Etcd3, keys: Iterable<SampleKey>, concurrency = 16): Promise<number> {
  const leases = new Map<number, Promise<string>>();
  const leaseFor = (ttl: number) => {
    let id = leases.get(ttl);
    if (!id) {
      const lease = etcd.lease(ttl, { autoKeepAlive: false });
      id = lease.grant();
      leases.set(ttl, id);
    }
    return id;
  };
  let count = 0;
  const inFlight = new Set<Promise<void>>();
  for (const item of keys) {
    const p = (async () => {
      const put = etcd.put(item.key).value(item.value);
      if (item.leaseTtl !== undefined) put.lease(await leaseFor(item.leaseTtl));
      await put.exec();
    })();
    inFlight.add(p);
    p.finally(() => inFlight.delete(p)).catch(() => undefined);
    count++;
    if (inFlight.size >= concurrency) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  return count;
}
