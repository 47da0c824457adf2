import { eventBytes, type DeltaBatch, type DeltaEvent } from './delta-event.js';

/** One segment to store: the changes of the revisions fromRevision..toRevision (all of them, possibly none). */
export interface SegmentCut {
  fromRevision: number;
  toRevision: number;
  events: DeltaEvent[];
  /** Bytes the changes count as (eventBytes). */
  bytes: number;
  /** Why it was cut: an interval ended, the byte limit, the recording stopped, or the chain was closed at a revision. */
  reason: 'interval' | 'size' | 'stop' | 'close';
}

export interface SegmenterOptions {
  /** The first revision of the first segment: the base backup's revision + 1. */
  fromRevision: number;
  /** A segment is cut at the end of every interval that saw changes (RS_DELTA_INTERVAL). */
  intervalMs: number;
  /** A segment is cut early when its changes reach this many bytes (RS_DELTA_MAX_BYTES). */
  maxBytes: number;
  /** Intervals end at startedAt + k * intervalMs (ms since the epoch). */
  startedAt: number;
}

/**
 * Decides where the segments of one chain begin and end, as changes arrive: pure, so it is tested with made-up times.
 * Segments follow each other without gap or overlap (each starts at the revision after the previous one's end), hold
 * whole revisions only (the changes of one transaction are never split), and end at the revision the recording is
 * complete through, which may lie past their last change. An interval without changes cuts nothing; the byte limit
 * cuts early; a revision bigger than the limit makes a segment of its own.
 */
export class Segmenter {
  private pending: DeltaEvent[] = [];
  private pendingBytes = 0;
  /** The first revision of the next segment. */
  private from: number;
  /** Every change at or below this revision has been added. */
  private completeThrough: number;
  private lastTick: number;

  constructor(private readonly opts: SegmenterOptions) {
    if (!(opts.intervalMs > 0) || !(opts.maxBytes > 0)) throw new RangeError('a segmenter needs an interval and a byte limit');
    this.from = opts.fromRevision;
    this.completeThrough = opts.fromRevision - 1;
    this.lastTick = opts.startedAt;
  }

  /** The revision the recording is complete through (what a stop would end the last segment at). */
  get through(): number {
    return this.completeThrough;
  }

  /** Changes waiting for the next cut, and their bytes. */
  get pendingEvents(): number {
    return this.pending.length;
  }

  get bytesPending(): number {
    return this.pendingBytes;
  }

  /** When the oldest change not yet in a segment was observed (undefined: none is waiting). */
  get oldestPendingAt(): number | undefined {
    return this.pending[0]?.observedAt;
  }

  /** Adds a batch of the watch; returns the segments the byte limit cut (usually none). */
  add(batch: DeltaBatch): SegmentCut[] {
    if (batch.through < this.completeThrough) throw new RangeError(`a batch complete through revision ${batch.through} after one through ${this.completeThrough}`);
    const cuts: SegmentCut[] = [];
    const events = batch.events;
    for (let i = 0; i < events.length; ) {
      const rev = events[i]!.modRevision;
      if (rev <= this.completeThrough) throw new RangeError(`a change at revision ${rev}, which the segments are already complete through (${this.completeThrough})`);
      let j = i;
      let bytes = 0;
      while (j < events.length && events[j]!.modRevision === rev) bytes += eventBytes(events[j++]!);
      if (j < events.length && events[j]!.modRevision < rev) throw new RangeError(`a change at revision ${events[j]!.modRevision} after one at ${rev}`);
      if (this.pending.length > 0 && this.pendingBytes + bytes > this.opts.maxBytes) cuts.push(this.cut(this.lastPendingRevision(), 'size'));
      for (let k = i; k < j; k++) this.pending.push(events[k]!);
      this.pendingBytes += bytes;
      // Every change of the batch up to here is whole (batches hold whole revisions).
      this.completeThrough = rev;
      if (this.pendingBytes >= this.opts.maxBytes) cuts.push(this.cut(rev, 'size'));
      i = j;
    }
    if (batch.through < this.completeThrough) throw new RangeError(`a batch complete through revision ${batch.through} holds a change at ${this.completeThrough}`);
    this.completeThrough = batch.through;
    return cuts;
  }

  /** When the current interval ends (ms since the epoch): when to call `tick` next. */
  nextTickAt(): number {
    return this.lastTick + this.opts.intervalMs;
  }

  /** At the end of an interval: the segment of the changes it saw, if any. Early calls cut nothing. */
  tick(now: number): SegmentCut | undefined {
    if (now < this.nextTickAt()) return undefined;
    this.lastTick += Math.floor((now - this.lastTick) / this.opts.intervalMs) * this.opts.intervalMs;
    return this.pending.length > 0 ? this.cut(this.completeThrough, 'interval') : undefined;
  }

  /** When the recording stops (SIGTERM): the segment of the changes still waiting, if any. */
  flush(): SegmentCut | undefined {
    return this.pending.length > 0 ? this.cut(this.completeThrough, 'stop') : undefined;
  }

  /**
   * Closes the chain at exactly `revision` (a new full backup holds it): the last segment ends there, and is written
   * even without changes, so that the store knows the chain covers every revision up to it. Undefined when the
   * segments already reach it.
   */
  close(revision: number): SegmentCut | undefined {
    if (this.completeThrough < revision) throw new RangeError(`cannot close the chain at revision ${revision}: it is complete through ${this.completeThrough} only`);
    if (this.pending.length > 0 && this.lastPendingRevision() > revision) {
      throw new RangeError(`cannot close the chain at revision ${revision}: it holds a change at ${this.lastPendingRevision()}`);
    }
    if (revision < this.from) return undefined;
    return this.cut(revision, 'close');
  }

  /**
   * Closes the chain at `revision` when the recording has gone past it already (a new full backup holds `revision`
   * while the watch is live): the last segment ends there, and the changes after it are dropped, for the next chain's
   * watch reads them again from etcd's history. Undefined when segments already cut reach `revision` or beyond.
   */
  closeDropping(revision: number): SegmentCut | undefined {
    if (this.completeThrough < revision) return this.close(revision);
    if (revision < this.from) return undefined;
    let bytes = 0;
    let kept = 0;
    while (kept < this.pending.length && this.pending[kept]!.modRevision <= revision) bytes += eventBytes(this.pending[kept++]!);
    this.pending = this.pending.slice(0, kept);
    this.pendingBytes = bytes;
    this.completeThrough = revision;
    return this.cut(revision, 'close');
  }

  private lastPendingRevision(): number {
    return this.pending[this.pending.length - 1]!.modRevision;
  }

  private cut(to: number, reason: SegmentCut['reason']): SegmentCut {
    const out: SegmentCut = { fromRevision: this.from, toRevision: to, events: this.pending, bytes: this.pendingBytes, reason };
    this.pending = [];
    this.pendingBytes = 0;
    this.from = to + 1;
    return out;
  }
}
