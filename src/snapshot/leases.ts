import type { BoltFile } from './bolt-file.js';
import { bucketEntries } from './cursor.js';
import { LEASE_BUCKET, requireBucket } from './etcd-buckets.js';
import { RecordReader } from './record-reader.js';

/** A lease as etcd persists it (leasepb.Lease): enough to re-grant it on restore. */
export interface LeaseRecord {
  id: bigint;
  /** Granted TTL in seconds. */
  ttl: number;
  /** Remaining TTL in seconds at the last checkpoint; 0 when never checkpointed (the lease then restarts at ttl). */
  remainingTTL: number;
}

/** Decodes leasepb.Lease (ID=1, TTL=2, RemainingTTL=3). */
function decodeLease(message: Buffer, where: string): LeaseRecord {
  const r = new RecordReader(message, where);
  const lease: LeaseRecord = { id: 0n, ttl: 0, remainingTTL: 0 };
  while (!r.done) {
    const tag = r.tag();
    if (tag === (1 << 3)) lease.id = r.int64();
    else if (tag === (2 << 3)) lease.ttl = Number(r.int64());
    else if (tag === (3 << 3)) lease.remainingTTL = Number(r.int64());
    else r.skip(tag & 7);
  }
  return lease;
}

/** Every lease in the snapshot's "lease" bucket, in id order. */
export async function leasesOf(file: BoltFile): Promise<LeaseRecord[]> {
  const bucket = await requireBucket(file, LEASE_BUCKET);
  const leases: LeaseRecord[] = [];
  let n = 0;
  for await (const entry of bucketEntries(file, bucket)) {
    if (!entry.isBucket) leases.push(decodeLease(entry.value, `bucket "lease" element ${n}`));
    n++;
  }
  return leases;
}
