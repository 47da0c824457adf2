import type { Etcd3 } from 'etcd3';
import type { DeltaEvent } from '../core/delta-event.js';

/** How long a batch waits for lease lookups before it goes on without them (they finish in the background). */
const LOOKUP_MS = 2_000;
/** Leases remembered at most; expired ones are forgotten first. */
const MAX_LEASES = 10_000;

interface Known {
  /** Seconds left when asked, and when that was. */
  ttl: number;
  at: number;
  granted: number;
}

/**
 * The TTLs of the leases that recorded puts name, asked of etcd once per lease (LeaseTimeToLive) and then counted
 * down: a restore grants the lease again with its granted TTL (the lease id kept), or a fresh lease with what it had
 * left, so no leased key comes back permanent. A lookup that fails or takes long leaves the puts without TTLs (the
 * restore then uses a default) rather than holding the recording up; a lease already gone counts 0 seconds left.
 */
export class LeaseTtls {
  private readonly known = new Map<string, Known>();
  private readonly asking = new Map<string, Promise<void>>();

  constructor(
    /** The watch's client of the moment (it is renewed when the TLS files change). */
    private readonly client: () => Etcd3,
    private readonly now: () => number,
  ) {}

  /** Sets ttl and grantedTtl on the puts that name a lease. */
  async annotate(events: DeltaEvent[]): Promise<void> {
    const ids = new Set<string>();
    for (const e of events) if (e.lease !== undefined && this.left(e.lease) === undefined) ids.add(e.lease);
    if (ids.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all([...ids].map((id) => this.ask(id))),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, LOOKUP_MS);
        }),
      ]);
      clearTimeout(timer);
    }
    for (const e of events) {
      if (e.lease === undefined) continue;
      const k = this.known.get(e.lease);
      if (k === undefined) continue;
      e.ttl = this.left(e.lease) ?? 0;
      if (k.granted > 0) e.grantedTtl = k.granted;
    }
  }

  /** Seconds the lease has left by the count-down; undefined when unknown or run out (then it is asked again). */
  private left(id: string): number | undefined {
    const k = this.known.get(id);
    if (k === undefined) return undefined;
    const left = k.ttl - Math.floor((this.now() - k.at) / 1000);
    return left > 0 ? left : undefined;
  }

  private ask(id: string): Promise<void> {
    let p = this.asking.get(id);
    if (p) return p;
    p = this.client()
      .leaseClient
      .leaseTimeToLive({ ID: id })
      .then(
        (res) => {
          const ttl = Number(res.TTL);
          const granted = Number(res.grantedTTL);
          const prior = this.known.get(id);
          // TTL -1: the lease is gone (expired or revoked); its keys are being deleted.
          this.remember(id, { ttl: ttl > 0 ? ttl : 0, at: this.now(), granted: granted > 0 ? granted : (prior?.granted ?? 0) });
        },
        () => undefined,
      )
      .finally(() => this.asking.delete(id));
    this.asking.set(id, p);
    return p;
  }

  private remember(id: string, k: Known): void {
    if (this.known.size >= MAX_LEASES && !this.known.has(id)) {
      for (const [old] of this.known) {
        if (this.left(old) === undefined) this.known.delete(old);
      }
      if (this.known.size >= MAX_LEASES) this.known.delete(this.known.keys().next().value!);
    }
    this.known.set(id, k);
  }
}
