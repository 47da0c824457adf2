import type { Etcd3, IWatchResponse } from 'etcd3';
import type { DeltaBatch, DeltaEvent } from '../core/delta-event.js';
import { EtcdError, IntegrityError } from '../core/errors.js';
import { WatchCompactedError, WatchRewoundError } from './delta-watch-errors.js';
import { poolOf, type GrpcDuplex } from './etcd3-pool.js';
import { toEtcdError, type EtcdTarget } from './errors.js';
import { isOpenEnd, type KeyRange } from './key-ranges.js';
import { LeaseTtls } from './lease-ttls.js';

export interface DeltaWatchOptions {
  /** The first revision to record: the base backup's revision + 1. */
  fromRevision: number;
  /**
   * The keys to record (a key dump's prefix ranges); undefined: every key (a snapshot). etcd is watched over the span
   * from the first range's start to the last one's end, and the changes outside the ranges are dropped here: they
   * still tell how far the recording is complete.
   */
  ranges?: readonly KeyRange[];
  /** Where etcd is, for messages. */
  target: EtcdTarget;
  /** Ask etcd for the TTL of each lease a put names, for a restore to grant it again (default true). */
  leaseTtls?: boolean;
  /** Told when the watch is (again) receiving, and when it lost etcd and when it tries again. */
  onState?: (change: WatchStateChange) => void;
  /** Back-off between attempts to watch again: the first wait, doubled up to the last. */
  retryMs?: { first: number; max: number };
  /** While a stop at a revision waits for etcd to confirm its progress: the time between progress requests. */
  confirmMs?: number;
  now?: () => number;
}

export type WatchStateChange =
  | { state: 'watching'; fromRevision: number }
  | { state: 'disconnected'; error: EtcdError; retryInMs: number };

interface Session {
  stream: GrpcDuplex;
  host: unknown;
  created: boolean;
  /** Changes of a response split in fragments, until its last one. */
  fragments: IWatchResponse['events'];
  timer?: NodeJS.Timeout;
}

const ALL = Buffer.from([0]);

/**
 * Records every change of the watched keys from a revision on, as batches in revision order (DeltaBatch), for as long
 * as it is iterated. Not etcd3's Watcher: after a dropped connection that one resumes from the revision in the last
 * response's header, which while it catches up on history is the cluster's current revision, not the last change it
 * delivered, so every change in between was lost (a test shows it). Here:
 * - the watch resumes from the revision after the last change handed over (or confirmed), on any endpoint, however
 *   often etcd restarts, loses its leader or the connection drops, with a back-off; the watch asks for a leader
 *   (`hasleader`), so a member cut off from the cluster ends it rather than going silent;
 * - history compacted past that revision ends the iteration with a WatchCompactedError, and an etcd that went back
 *   below it (or answers as another cluster) with a WatchRewoundError: the chain cannot go on without a gap;
 * - responses split in fragments (large transactions) are handed over whole; changes of one revision never part;
 * - `stopAt(R)` ends the iteration after every change up to R and none after it, once etcd has shown the recording
 *   is complete through R: a change past R arrived, or two progress notifications at or past R a while apart (one
 *   alone is not trusted: before etcd 3.4.25 / 3.5.9 a requested notification could overtake changes, etcd #15220);
 * - `stop()` ends it after what it has handed over (SIGTERM).
 * Back-pressure: nothing is read from etcd while the consumer holds a batch.
 */
export class DeltaWatch implements AsyncIterable<DeltaBatch> {
  private next: number;
  private stopRevision?: number;
  private stopping = false;
  private ended = false;
  private session?: Session;
  private wake?: () => void;
  private lastObservedAt = 0;
  private clusterId?: string;
  private confirmedAt?: number;
  /** The last put handed over: on every resume, etcd must still hold it at its revision (the same history). */
  private fingerprint?: { key: Buffer; revision: number };
  private readonly leases: LeaseTtls;
  private readonly now: () => number;
  private readonly hull: { start: Buffer; end: Buffer };

  constructor(
    private readonly client: Etcd3,
    private readonly opts: DeltaWatchOptions,
  ) {
    if (!Number.isSafeInteger(opts.fromRevision) || opts.fromRevision < 1) throw new RangeError(`cannot watch from revision ${opts.fromRevision}`);
    this.next = opts.fromRevision;
    this.now = opts.now ?? Date.now;
    this.leases = new LeaseTtls(client, this.now);
    this.hull = hullOf(opts.ranges);
  }

  /** Every change up to this revision has been handed over. */
  get through(): number {
    return this.next - 1;
  }

  /**
   * Ends the recording at exactly `revision`: changes up to it are handed over, none after it, and the last batch is
   * complete through it. It must not lie behind what was handed over already.
   */
  stopAt(revision: number): void {
    if (revision < this.through) throw new RangeError(`cannot stop the recording at revision ${revision}: it has handed over changes up to ${this.through}`);
    this.stopRevision = revision;
    this.confirmedAt = undefined;
    // Already there: end the wait for etcd's next response.
    if (this.through >= revision) this.session?.stream.cancel();
    this.wake?.();
  }

  /** Ends the recording after the changes handed over so far. */
  stop(): void {
    this.stopping = true;
    this.session?.stream.cancel();
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<DeltaBatch> {
    if (this.ended) throw new Error('a DeltaWatch is iterated once');
    let attempt = 0;
    try {
      for (;;) {
        if (this.stopping) return;
        if (this.stopRevision !== undefined && this.through >= this.stopRevision) {
          yield this.finalBatch();
          return;
        }
        let session: Session | undefined;
        try {
          await this.checkSameHistory();
          session = await this.open();
          for await (const res of session.stream) {
            const out = await this.handle(res as IWatchResponse, session);
            if (out === undefined) continue;
            attempt = 0;
            yield out;
            if (this.done()) break;
          }
          if (!this.done()) throw new EtcdError('etcd ended the watch stream');
        } catch (err) {
          if (this.stopping) return;
          // A stop at a revision already reached ended the wait: the loop's start ends the recording.
          if (this.done()) continue;
          if (err instanceof WatchCompactedError || err instanceof WatchRewoundError || err instanceof IntegrityError || err instanceof FatalWatchError) throw unwrap(err);
          if (session) this.failed(session, err);
          const delay = backoff(attempt++, this.opts.retryMs);
          this.opts.onState?.({ state: 'disconnected', error: toEtcdError(err, 'watching etcd for changes', this.opts.target), retryInMs: delay });
          await this.sleep(delay);
        } finally {
          if (session) this.close(session);
        }
      }
    } finally {
      this.ended = true;
    }
  }

  /** True when the recording is to end: stopped, or at the revision of a stop. */
  private done(): boolean {
    return this.stopping || (this.stopRevision !== undefined && this.through >= this.stopRevision);
  }

  /**
   * Before watching again: etcd must still hold the last put handed over, at its revision. An etcd restored from an
   * older backup (or replaced) is behind it, or holds something else there: its changes would not continue the chain.
   * The read is linearizable, so a member that merely lags behind the leader does not count as behind.
   */
  private async checkSameHistory(): Promise<void> {
    const fp = this.fingerprint;
    if (fp === undefined) return;
    let kv: { mod_revision: string } | undefined;
    try {
      const res = await this.client.kv.range({ key: fp.key, revision: String(fp.revision), keys_only: true });
      kv = res.kvs[0];
    } catch (err) {
      // Compacted past it: the watch itself says whether the history it needs is gone.
      if (/compacted/i.test(String((err as Error)?.message))) return;
      if (!/future revision/i.test(String((err as Error)?.message))) throw err;
    }
    if (kv === undefined || Number(kv.mod_revision) !== fp.revision) {
      throw new WatchRewoundError(
        `etcd at ${where(this.opts.target)} no longer holds the change recorded at revision ${fp.revision} ` +
          `(${kv === undefined ? 'it is behind that revision, or the key is not there' : `the key was last changed at ${kv.mod_revision}`}): ` +
          'it was restored or replaced, and its changes would not continue the chain; a full backup must start a new one',
      );
    }
  }

  /** Opens a watch stream on some endpoint and asks for the changes from the next revision on. */
  private async open(): Promise<Session> {
    const pool = poolOf(this.client);
    const { stream, host } = await pool.withConnection('Watch', ({ resource, client, metadata }) => {
      // etcd ends the stream when the member it reaches has no leader, instead of leaving it silent (Go's WithRequireLeader).
      const md = metadata.clone();
      md.set('hasleader', 'true');
      return { stream: client.watch(md, {}), host: resource };
    });
    const session: Session = { stream, host, created: false, fragments: [] };
    this.session = session;
    stream.write({
      create_request: {
        key: this.hull.start,
        range_end: this.hull.end,
        start_revision: String(this.next),
        progress_notify: true,
        fragment: true,
      },
    });
    const confirmMs = this.opts.confirmMs ?? 250;
    // While a stop waits for etcd to show the recording is complete: ask for progress now and then.
    session.timer = setInterval(() => {
      if (session.created && this.stopRevision !== undefined && this.through < this.stopRevision && stream.writable) stream.write({ progress_request: {} });
    }, confirmMs);
    return session;
  }

  private async handle(res: IWatchResponse, session: Session): Promise<DeltaBatch | undefined> {
    this.checkCluster(res);
    if (res.created) {
      if (res.canceled) throw this.canceled(res);
      session.created = true;
      this.opts.onState?.({ state: 'watching', fromRevision: this.next });
      return undefined;
    }
    if (res.canceled) throw this.canceled(res);
    if (res.fragment) {
      session.fragments.push(...res.events);
      return undefined;
    }
    const events = session.fragments.length > 0 ? [...session.fragments, ...res.events] : res.events;
    session.fragments = [];
    if (events.length === 0) return this.progress(Number(res.header.revision));
    this.confirmedAt = undefined;
    return this.batch(events);
  }

  /** A progress notification: how far etcd says the watch is. Trusted only for a stop, and only when confirmed. */
  private progress(revision: number): DeltaBatch | undefined {
    const stop = this.stopRevision;
    if (stop === undefined || revision < stop || this.through >= stop) return undefined;
    const now = this.now();
    if (this.confirmedAt === undefined) {
      this.confirmedAt = now;
      return undefined;
    }
    if (now - this.confirmedAt < (this.opts.confirmMs ?? 250)) return undefined;
    return this.finalBatch();
  }

  /** The last batch of a stop at a revision: complete through it. */
  private finalBatch(): DeltaBatch {
    const stop = this.stopRevision!;
    this.next = Math.max(this.next, stop + 1);
    return { events: [], through: stop, receivedAt: this.observedNow() };
  }

  private async batch(raw: IWatchResponse['events']): Promise<DeltaBatch> {
    const receivedAt = this.observedNow();
    const first = Number(raw[0]!.kv.mod_revision);
    const last = Number(raw[raw.length - 1]!.kv.mod_revision);
    if (first < this.next) {
      throw new IntegrityError('watch', `etcd sent a change at revision ${first}, but the recording is complete through ${this.through} already: the order of changes cannot be trusted`);
    }
    const stop = this.stopRevision;
    const events: DeltaEvent[] = [];
    for (const ev of raw) {
      const kv = ev.kv;
      const rev = Number(kv.mod_revision);
      if (stop !== undefined && rev > stop) break;
      if (!this.inRanges(kv.key)) continue;
      events.push(
        ev.type === 'Delete'
          ? { type: 'delete', key: kv.key, value: Buffer.alloc(0), createRevision: 0, modRevision: rev, version: 0, observedAt: receivedAt }
          : {
              type: 'put',
              key: kv.key,
              value: kv.value,
              createRevision: Number(kv.create_revision),
              modRevision: rev,
              version: Number(kv.version),
              ...(kv.lease !== '0' && kv.lease !== undefined && { lease: String(kv.lease) }),
              observedAt: receivedAt,
            },
      );
    }
    if (this.opts.leaseTtls !== false) await this.leases.annotate(events);
    for (let i = events.length - 1; i >= 0; i--) {
      if (events[i]!.type === 'put') {
        this.fingerprint = { key: events[i]!.key, revision: events[i]!.modRevision };
        break;
      }
    }
    const through = stop !== undefined ? Math.min(last, stop) : last;
    this.next = through + 1;
    return { events, through, receivedAt };
  }

  private inRanges(key: Buffer): boolean {
    const ranges = this.opts.ranges;
    if (ranges === undefined) return true;
    return ranges.some((r) => key.compare(r.start) >= 0 && (isOpenEnd(r.end) || key.compare(r.end) < 0));
  }

  /** Observation times never go back along a recording, whatever the wall clock does. */
  private observedNow(): number {
    this.lastObservedAt = Math.max(this.lastObservedAt, this.now());
    return this.lastObservedAt;
  }

  private checkCluster(res: IWatchResponse): void {
    const id = res.header?.cluster_id;
    if (id === undefined || id === '0') return;
    this.clusterId ??= id;
    if (id !== this.clusterId) {
      throw new WatchRewoundError(
        `etcd at ${where(this.opts.target)} now answers as cluster ${id}, not cluster ${this.clusterId} whose changes were recorded: ` +
          'its changes would not continue the chain; a full backup must start a new one',
      );
    }
  }

  private canceled(res: IWatchResponse): Error {
    const compacted = Number(res.compact_revision ?? 0);
    if (compacted > 0) return new WatchCompactedError(this.next, compacted, where(this.opts.target));
    return new FatalWatchError(toEtcdError(new Error(res.cancel_reason || 'etcd canceled the watch'), 'watching etcd for changes', this.opts.target));
  }

  private failed(session: Session, err: unknown): void {
    const pool = poolOf(this.client);
    if (/invalid auth token/i.test(String((err as Error)?.message))) pool.authenticator.invalidateMetadata();
    // Tells the client's failover that this endpoint failed, as etcd3's own streams do.
    if (session.stream.writable) pool.markFailed(session.host, err);
  }

  private close(session: Session): void {
    clearInterval(session.timer);
    if (this.session === session) this.session = undefined;
    if (!session.stream.destroyed) session.stream.cancel();
  }

  /** Waits `ms`, or until stop() or stopAt() wakes it. */
  private async sleep(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => resolve(), ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.wake = undefined;
  }
}

/** An error the watch must not retry (permission, a canceled watch): carried past the retry as it is. */
class FatalWatchError extends Error {
  constructor(readonly error: EtcdError) {
    super(error.message);
  }
}

function unwrap(err: unknown): unknown {
  return err instanceof FatalWatchError ? err.error : err;
}

/** The span of keys the watch covers: from the first range's start to the last one's end. */
function hullOf(ranges: readonly KeyRange[] | undefined): { start: Buffer; end: Buffer } {
  if (ranges === undefined || ranges.length === 0) return { start: ALL, end: ALL };
  const start = ranges.reduce((m, r) => (r.start.compare(m) < 0 ? r.start : m), ranges[0]!.start);
  const end = ranges.some((r) => isOpenEnd(r.end)) ? ALL : ranges.reduce((m, r) => (r.end.compare(m) > 0 ? r.end : m), ranges[0]!.end);
  return { start, end };
}

function backoff(attempt: number, retry: DeltaWatchOptions['retryMs']): number {
  const first = retry?.first ?? 100;
  const max = retry?.max ?? 2_000;
  return Math.min(max, first * 2 ** Math.min(attempt, 20));
}

function where(target: EtcdTarget): string {
  return (Array.isArray(target) ? target : (target as { endpoints: readonly string[] }).endpoints).join(',');
}
