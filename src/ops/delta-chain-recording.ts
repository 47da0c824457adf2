import type { CodecKeys } from '../archive/codec.js';
import { etcdOf, type DeltaManifest, type Manifest } from '../archive/manifest.js';
import { kindOf } from '../core/backup-kind.js';
import { Segmenter, type SegmentCut } from '../core/delta-segmenter.js';
import { describeError } from '../core/errors.js';
import { clusterIdOf } from '../core/etcd-cluster-change.js';
import { nextBackupId } from '../core/naming.js';
import type { Config } from '../config/types.js';
import { DeltaWatch, type WatchStateChange } from '../etcd/delta-watch.js';
import { prefixRanges } from '../etcd/key-ranges.js';
import type { EtcdClientSource } from '../etcd/renewing-client.js';
import type { Logger } from '../log.js';
import type { BackupRepository } from '../store/backup-repository.js';
import { storeSegment, type SegmentChain } from './store-segment.js';

/** How one chain's recording ended: stopped (SIGTERM), closed at a new full backup, or broken (compacted, etcd replaced...). */
export type ChainEnd = { kind: 'stopped' } | { kind: 'new-base'; base: Manifest } | { kind: 'broken'; error: unknown };

export interface ChainRecordingDeps {
  config: Config;
  log: Logger;
  repo: BackupRepository;
  client: EtcdClientSource;
  keys: CodecKeys;
  /** True while a full backup runs: interval cuts wait, so that the chain it ends ends exactly at its revision. */
  backupRunning: () => boolean;
  onState: (change: WatchStateChange) => void;
  onStored: (m: DeltaManifest) => void;
  /** The changes of a segment were given up at exit: the store failed its last attempts. */
  onGivenUp: (what: string) => void;
}

/**
 * The clock of the intervals: monotonic (since the epoch at the process's start), so that a wall clock stepped back
 * (NTP, `date -s`) does not hold every segment back for as long as it went back, nor one stepped forward cut at once.
 */
const intervalClock = (): number => performance.timeOrigin + performance.now();

/** Store attempts of the last segment after a stop, before its changes are given up (the process is exiting). */
const FINAL_ATTEMPTS = 3;

/**
 * Records the changes after one full backup (the chain's base) as delta segments, from `fromRevision` (the base's
 * revision + 1, or after the segments stored already) until it is stopped, closed at a new base's revision, or
 * broken. Segments are stored one at a time in revision order; a store that fails is retried with the same changes,
 * and the watch stops reading from etcd while more than two segments' worth of changes wait.
 */
export class ChainRecording {
  private readonly segmenter: Segmenter;
  private readonly watch: DeltaWatch;
  private readonly chain: SegmentChain;
  private endBase?: Manifest;
  private stopping = false;
  private queue: Promise<void> = Promise.resolve();
  private readonly queued: SegmentCut[] = [];
  private queuedBytes = 0;
  private lastStored?: DeltaManifest;

  constructor(
    private readonly deps: ChainRecordingDeps,
    readonly base: Manifest,
    readonly fromRevision: number,
  ) {
    const { config } = deps;
    // The chain's changes must be of its base's cluster: the cluster run found at its start is not that of a full
    // backup taken since of another (endpoints whose DNS names now reach a re-created cluster), whose chain was
    // refused as of another cluster, broken, and taken again, one full backup after another, without a change recorded.
    const cluster = clusterIdOf(base) ?? config.etcd.checkedCluster;
    const keyDump = kindOf(base.contentType) === 'key dump' && base.prefixes !== undefined && base.prefixes.length > 0;
    this.chain = { base: base.id, baseRevision: etcdOf(base).revision, etcdVersion: etcdOf(base).version, ...(keyDump && { prefixes: base.prefixes! }) };
    this.segmenter = new Segmenter({ fromRevision, intervalMs: config.delta.intervalMs, maxBytes: config.delta.maxBytes, startedAt: intervalClock() });
    this.watch = new DeltaWatch(deps.client, {
      fromRevision,
      ...(keyDump && { ranges: prefixRanges(base.prefixes!) }),
      target: config.etcd,
      ...(cluster !== undefined && { cluster }),
      onState: deps.onState,
    });
  }

  /** Every change up to this revision has been received (stored, or waiting to be). */
  get through(): number {
    return this.segmenter.through;
  }

  /** When the oldest change not yet stored was received (undefined: none waits). */
  get oldestPendingAt(): number | undefined {
    return this.queued[0]?.events[0]?.observedAt ?? this.segmenter.oldestPendingAt;
  }

  /** The newest segment stored. */
  get stored(): DeltaManifest | undefined {
    return this.lastStored;
  }

  /** A new full backup holds `etcdOf(base).revision`: the chain ends there exactly, and a new one starts after it. */
  endAt(base: Manifest): void {
    if (this.stopping || this.endBase !== undefined) return;
    this.endBase = base;
    const revision = etcdOf(base).revision;
    if (this.watch.through < revision) this.watch.stopAt(revision);
    else this.watch.stop();
  }

  /** Ends the recording: the changes received so far are stored, then record() resolves. */
  stop(): void {
    this.stopping = true;
    this.watch.stop(true);
  }

  /** Records until stopped, closed or broken; the last segment is stored (or given up) before it resolves. */
  async record(): Promise<ChainEnd> {
    const ticker = setInterval(() => this.tick(), Math.min(250, this.deps.config.delta.intervalMs));
    let end: ChainEnd;
    try {
      for await (const batch of this.watch) {
        for (const cut of this.segmenter.add(batch)) this.enqueue(cut);
        // Back-pressure: while the store is behind, etcd's stream waits rather than memory growing.
        if (this.queuedBytes > 2 * this.deps.config.delta.maxBytes) await this.queue;
      }
      end = this.endBase !== undefined && !this.stopping ? { kind: 'new-base', base: this.endBase } : { kind: 'stopped' };
    } catch (err) {
      end = { kind: 'broken', error: err };
    } finally {
      clearInterval(ticker);
    }
    this.enqueue(end.kind === 'new-base' ? this.close(end.base) : this.segmenter.flush(), true);
    await this.queue;
    return end;
  }

  /** The last segment of a chain a new base ends: up to exactly its revision. */
  private close(base: Manifest): SegmentCut | undefined {
    const revision = etcdOf(base).revision;
    const cut = this.segmenter.closeDropping(revision);
    const storedTo = this.lastStored?.toRevision ?? this.fromRevision - 1;
    if (cut === undefined && storedTo > revision) {
      this.deps.log.warn({ base: this.base.id, newBase: base.id, revision, storedTo }, 'the chain already holds segments past the new full backup\'s revision (stored before that backup\'s manifest landed, or cut early by RS_DELTA_MAX_BYTES); the chains overlap there');
    }
    return cut;
  }

  /** At the end of an interval: the segment of its changes, unless a full backup runs (then at its end). */
  private tick(): void {
    if (this.deps.backupRunning() || this.endBase !== undefined) return;
    const cut = this.segmenter.tick(intervalClock());
    if (cut) this.enqueue(cut);
  }

  private enqueue(cut: SegmentCut | undefined, final = false): void {
    if (cut === undefined) return;
    this.queued.push(cut);
    this.queuedBytes += cut.bytes;
    this.queue = this.queue.then(() => this.storeWithRetry(cut, final || this.stopping));
  }

  private async storeWithRetry(cut: SegmentCut, final: boolean): Promise<void> {
    const log = this.deps.log;
    for (let attempt = 1; ; attempt++) {
      try {
        // Never an id earlier than the chain's last (a clock stepped back): `latest`, `list` and retention go by id.
        const { id } = nextBackupId(new Date(), this.lastStored?.id ?? this.base.id);
        const m = await storeSegment(this.deps, this.deps.repo, this.deps.keys, this.chain, cut, { id });
        this.lastStored = m;
        log.info({ id: m.id, base: m.base, fromRevision: m.fromRevision, toRevision: m.toRevision, events: m.events, sizeBytes: m.sizeBytes, reason: cut.reason }, 'delta segment stored');
        this.deps.onStored(m);
        break;
      } catch (err) {
        const giveUp = (final || this.stopping) && attempt >= FINAL_ATTEMPTS;
        const fields = { fromRevision: cut.fromRevision, toRevision: cut.toRevision, events: cut.events.length, attempt, err: describeError(err) };
        if (giveUp) {
          log.error(fields, 'could not store the last delta segment before exit: its changes are not in the store');
          this.deps.onGivenUp(`the changes of revisions ${cut.fromRevision}..${cut.toRevision} (${cut.events.length}) could not be stored before exit: ${fields.err}`);
          break;
        }
        log.warn(fields, 'could not store a delta segment; trying again with the same changes');
        await new Promise((r) => setTimeout(r, Math.min(30_000, 500 * 2 ** Math.min(attempt, 6))));
      }
    }
    this.queued.shift();
    this.queuedBytes -= cut.bytes;
  }
}
