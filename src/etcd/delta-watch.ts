import type { Etcd3, IWatchResponse } from 'etcd3';
import type { DeltaBatch, DeltaEvent } from '../core/delta-event.js';
import { EtcdError, IntegrityError } from '../core/errors.js';
import { WatchCompactedError, WatchRewoundError } from './delta-watch-errors.js';
import { poolOf, type GrpcDuplex } from './etcd3-pool.js';
import { toEtcdError, type EtcdTarget } from './errors.js';
import { markHostFailed } from './fault-handling.js';
import { isOpenEnd, type KeyRange } from './key-ranges.js';
import { LeaseTtls } from './lease-ttls.js';
import type { EtcdClientSource } from './renewing-client.js';

export interface DeltaWatchOptions {
  /** The first revision to record: the base backup's revision + 1. */
  fromRevision: number;
  /**
   * The keys to record (a key dump's prefix ranges); undefined: every key (a snapshot). Each range is watched on its
   * own (etcd checks a watch against its whole range: a user that may read only the prefixes could not watch the span
   * from the first to the last), all on one stream from the same revision, and their changes merged in revision order.
   */
  ranges?: readonly KeyRange[];
  /** Where etcd is, for messages. */
  target: EtcdTarget;
  /** The cluster the one-cluster check found (see pinnedEndpoints): every answer must be of it, not only of the first's. */
  cluster?: string;
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
  /** Every range's watcher is created. */
  created: boolean;
  /** The watchers created, by etcd's watch id. */
  watchers: Map<string, WatcherState>;
  /** Changes received from a watcher but not handed over: another watcher may still send earlier ones. */
  held: IWatchResponse['events'];
  /** Progress notifications not yet trusted: when each came, its revision, and its watcher (undefined: all of them). */
  notes: Array<{ at: number; revision: number; id?: string }>;
  /** When every watcher was created. */
  createdAt?: number;
  /** A watcher has sent changes: etcd has been through its history for every watcher once (see caughtUp). */
  sawChanges: boolean;
  timer?: NodeJS.Timeout;
}

interface WatcherState {
  /** Complete through this revision. */
  through: number;
  /** The fragments of its split response. */
  fragments: IWatchResponse['events'];
  /**
   * etcd's revision when the watcher was created, while the watcher may still be catching up to it: it started at or
   * below it, and has not shown it caught up (see caughtUp).
   */
  behind?: number;
  /** It has sent changes. */
  sawChanges: boolean;
}

const ALL = Buffer.from([0]);
/**
 * etcd (3.4 to 3.6, watchBatchMaxRevs) hands a watcher that starts behind its current revision the history in batches
 * of this many revisions, one batch every 100 ms; a batch of fewer is its last one.
 */
const CATCH_UP_BATCH_REVISIONS = 1000;
/** A watcher that started behind and has sent no change is taken as caught up this long after its creation at the latest. */
const QUIET_CAUGHT_UP_MS = 2_000;
/** How long a stop waits for the watchers to confirm the changes one of them sent (normally two progress requests). */
const DRAIN_MS = 2_000;

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
 * - `stop()` ends it after what it has handed over, `stop(true)` after what it has received (SIGTERM).
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
  /** The last put handed over: on every resume, etcd must still hold it at its revision (the same history). */
  private fingerprint?: { key: Buffer; revision: number };
  private readonly leases: LeaseTtls;
  private readonly now: () => number;
  private readonly spans: ReadonlyArray<{ start: Buffer; end: Buffer }>;

  /** `clients`: the client of every attempt, renewed before each (TLS files rewritten meanwhile: see RenewingEtcdClient). */
  constructor(
    private readonly clients: EtcdClientSource,
    private readonly opts: DeltaWatchOptions,
  ) {
    if (!Number.isSafeInteger(opts.fromRevision) || opts.fromRevision < 1) throw new RangeError(`cannot watch from revision ${opts.fromRevision}`);
    this.next = opts.fromRevision;
    this.clusterId = opts.cluster;
    this.now = opts.now ?? Date.now;
    this.leases = new LeaseTtls(() => this.client, this.now);
    this.spans = opts.ranges === undefined || opts.ranges.length === 0 ? [{ start: ALL, end: ALL }] : opts.ranges;
  }

  private get client(): Etcd3 {
    return this.clients.current;
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
    // Already there: end the wait for etcd's next response.
    if (this.through >= revision) this.session?.stream.cancel();
    this.wake?.();
  }

  /**
   * Ends the recording after the changes handed over so far; with `received`, also after those received from one
   * watcher that wait for the others to show they are complete that far (a stop at their revision), or at the
   * revision of a stop that waits for that: for at most DRAIN_MS.
   */
  stop(received = false): void {
    const held = this.session?.held ?? [];
    const pending = this.stopRevision !== undefined && this.through < this.stopRevision;
    if (received && !this.stopping && (held.length > 0 || pending)) {
      if (this.stopRevision === undefined) this.stopAt(Math.max(this.through, ...held.map((ev) => Number(ev.kv.mod_revision))));
      setTimeout(() => this.stopNow(), DRAIN_MS).unref();
      return;
    }
    this.stopNow();
  }

  private stopNow(): void {
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
          this.clients.renew();
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
    let behindAt: number | undefined;
    try {
      // Asked as of now first: an etcd behind the revision answers a read pinned to it "future revision", which the
      // client retries as a member catching up, for RS_ETCD_TIMEOUT, while the watch said only that it was lost.
      const now = await this.client.kv.range({ key: fp.key, keys_only: true });
      if (Number(now.header.revision) < fp.revision) behindAt = Number(now.header.revision);
      else if (Number(now.kvs[0]?.mod_revision) === fp.revision) kv = now.kvs[0];
      else kv = (await this.client.kv.range({ key: fp.key, revision: String(fp.revision), keys_only: true })).kvs[0];
    } catch (err) {
      // Compacted past it: the watch itself says whether the history it needs is gone.
      if (/compacted/i.test(String((err as Error)?.message))) return;
      if (!/future revision/i.test(String((err as Error)?.message))) throw err;
    }
    if (kv === undefined || Number(kv.mod_revision) !== fp.revision) {
      const why = behindAt !== undefined ? `it is at revision ${behindAt}, behind it` : kv === undefined ? 'it is behind that revision, or the key is not there' : `the key was last changed at ${kv.mod_revision}`;
      throw new WatchRewoundError(
        `etcd at ${where(this.opts.target)} no longer holds the change recorded at revision ${fp.revision} ` +
          `(${why}): ` +
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
    const session: Session = { stream, host, created: false, watchers: new Map(), held: [], notes: [], sawChanges: false };
    this.session = session;
    for (const span of this.spans) {
      stream.write({ create_request: { key: span.start, range_end: span.end, start_revision: String(this.next), progress_notify: true, fragment: true } });
    }
    // While a stop waits for etcd to show the recording is complete, or changes wait for the other watchers to show
    // they have none before them: ask for progress now and then.
    session.timer = setInterval(() => {
      const waiting = (this.stopRevision !== undefined && this.through < this.stopRevision) || session.held.length > 0;
      if (session.created && waiting && stream.writable) stream.write({ progress_request: {} });
    }, this.opts.confirmMs ?? 250);
    return session;
  }

  private async handle(res: IWatchResponse, session: Session): Promise<DeltaBatch | undefined> {
    this.checkCluster(res);
    if (res.canceled) throw this.canceled(res);
    const id = String(res.watch_id);
    if (res.created) {
      const current = Number(res.header.revision);
      session.watchers.set(id, { through: this.next - 1, fragments: [], ...(current >= this.next && { behind: current }), sawChanges: false });
      session.created = session.watchers.size === this.spans.length;
      if (session.created) {
        session.createdAt = this.now();
        this.opts.onState?.({ state: 'watching', fromRevision: this.next });
      }
      return undefined;
    }
    const watcher = session.watchers.get(id);
    if (watcher !== undefined && res.fragment) {
      watcher.fragments.push(...res.events);
      return undefined;
    }
    const events = watcher !== undefined && watcher.fragments.length > 0 ? [...watcher.fragments, ...res.events] : res.events;
    if (watcher !== undefined) watcher.fragments = [];
    if (events.length === 0) this.progress(session, Number(res.header.revision), watcher && id);
    else {
      if (watcher === undefined) throw new IntegrityError('watch', `etcd sent changes for watch ${id}, which this recording did not create`);
      // A watcher sends its changes in revision order, the changes of one revision in one response.
      watcher.through = Math.max(watcher.through, Number(events[events.length - 1]!.kv.mod_revision));
      if (watcher.through >= (watcher.behind ?? 0) || new Set(events.map((ev) => ev.kv.mod_revision)).size < CATCH_UP_BATCH_REVISIONS) watcher.behind = undefined;
      watcher.sawChanges = session.sawChanges = true;
      session.held.push(...events);
    }
    return this.release(session);
  }

  /**
   * A progress notification: how far etcd says a watcher (or every one) is. Trusted only once another came a while
   * after it: one alone is not (before etcd 3.4.25 / 3.5.9 a requested notification could overtake changes, #15220).
   */
  private progress(session: Session, revision: number, id: string | undefined): void {
    const now = this.now();
    const confirmMs = this.opts.confirmMs ?? 250;
    const trusted = session.notes.filter((n) => now - n.at >= confirmMs);
    session.notes = [...session.notes.filter((n) => now - n.at < confirmMs), { at: now, revision, ...(id !== undefined && { id }) }];
    for (const note of trusted) {
      for (const [wid, w] of session.watchers) {
        // A watcher's own notification comes only once it caught up, after its changes (etcd sends it in their line).
        if (note.id === wid) w.behind = undefined;
        if (note.id === wid || (note.id === undefined && this.caughtUp(session, w))) w.through = Math.max(w.through, note.revision);
      }
    }
  }

  /**
   * Whether a notification for every watcher may count for this one. While a watcher catches up on history, etcd
   * before 3.4.25 / 3.5.8 answers a progress request at once with its current revision, ahead of the batches still
   * to come (seconds for a watch resuming far behind): it counts only once the watcher showed it caught up, by a
   * change at or past etcd's revision at its creation, or a batch shorter than etcd's catch-up batches. A watcher that
   * sends no change is caught up once etcd went through the history for every watcher: another sent its first
   * changes, or none did for a while.
   */
  private caughtUp(session: Session, w: WatcherState): boolean {
    if (w.behind === undefined) return true;
    return !w.sawChanges && (session.sawChanges || this.now() - (session.createdAt ?? this.now()) >= QUIET_CAUGHT_UP_MS);
  }

  /**
   * The changes every watcher is complete through (the least of their revisions), merged in revision order, as a
   * batch; at a stop's revision, the last batch. Undefined while there is nothing new to hand over.
   */
  private release(session: Session): Promise<DeltaBatch> | DeltaBatch | undefined {
    if (!session.created) return undefined;
    const complete = Math.min(...[...session.watchers.values()].map((w) => w.through));
    const stop = this.stopRevision;
    const ready = session.held.filter((ev) => Number(ev.kv.mod_revision) <= complete);
    if (ready.length === 0) return stop !== undefined && complete >= stop && this.through < stop ? this.finalBatch() : undefined;
    session.held = session.held.filter((ev) => Number(ev.kv.mod_revision) > complete);
    // Stable: the changes of one revision keep the order etcd sent them in.
    ready.sort((a, b) => Number(a.kv.mod_revision) - Number(b.kv.mod_revision));
    return this.batch(ready, complete);
  }

  /** The last batch of a stop at a revision: complete through it. */
  private finalBatch(): DeltaBatch {
    const stop = this.stopRevision!;
    this.next = Math.max(this.next, stop + 1);
    return { events: [], through: stop, receivedAt: this.observedNow() };
  }

  /** The changes `raw` (in revision order), through the revision `complete` every watcher has reached. */
  private async batch(raw: IWatchResponse['events'], complete: number): Promise<DeltaBatch> {
    const receivedAt = this.observedNow();
    const first = Number(raw[0]!.kv.mod_revision);
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
    const through = stop !== undefined ? Math.min(complete, stop) : complete;
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
    // A token gone bad, or none sent while etcd's authentication was disabled and it is enabled again: asked for anew.
    if (/invalid auth token|user name is empty/i.test(String((err as Error)?.message))) pool.authenticator.invalidateMetadata();
    // Tells the client's failover that this endpoint failed, as etcd3's own streams do.
    if (session.stream.writable) markHostFailed(pool, session.host, err);
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

function backoff(attempt: number, retry: DeltaWatchOptions['retryMs']): number {
  const first = retry?.first ?? 100;
  const max = retry?.max ?? 2_000;
  return Math.min(max, first * 2 ** Math.min(attempt, 20));
}

function where(target: EtcdTarget): string {
  return (Array.isArray(target) ? target : (target as { endpoints: readonly string[] }).endpoints).join(',');
}
