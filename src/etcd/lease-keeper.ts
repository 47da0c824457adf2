import type { Etcd3, IDuplexStream, ILeaseKeepAliveRequest, ILeaseKeepAliveResponse } from 'etcd3';

/** Keep-alives are sent this often: well within etcd's shortest lease (about 2 s with its default timings). */
const EVERY_MS = 500;

/**
 * Keeps the leases of the temporary etcd of a point-in-time restore alive while changes are replayed into it: etcd
 * gives restored leases their full TTL when it starts, and a replay longer than a lease's TTL would otherwise see etcd
 * expire it and delete its keys, which the source still held at the target. The leases still run their course in the
 * restored cluster (etcd renews every lease's TTL when a restored member becomes leader).
 */
export class LeaseKeeper {
  private readonly ids = new Set<string>();
  private readonly timer: NodeJS.Timeout;

  private constructor(private readonly stream: IDuplexStream<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>) {
    stream.on('data', () => undefined);
    // A failed keep-alive stream only risks leases expiring early (keys deleted, never kept): it does not stop a restore.
    stream.on('error', () => undefined);
    this.timer = setInterval(() => this.beat(), EVERY_MS);
  }

  /** Keeps alive every lease the etcd holds now, and those added with `watch`. */
  static async start(client: Etcd3): Promise<LeaseKeeper> {
    const [leases, stream] = await Promise.all([client.leaseClient.leaseLeases(), client.leaseClient.leaseKeepAlive()]);
    const keeper = new LeaseKeeper(stream);
    for (const l of leases.leases) keeper.ids.add(l.ID);
    keeper.beat();
    return keeper;
  }

  watch(id: string | undefined): void {
    if (id !== undefined) this.ids.add(id);
  }

  stop(): void {
    clearInterval(this.timer);
    this.stream.end();
  }

  private beat(): void {
    for (const ID of this.ids) this.stream.write({ ID });
  }
}
