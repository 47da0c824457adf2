import { randomUUID } from 'node:crypto';
import { AbortedError, describeError } from './errors.js';
import { RateMeter } from './rate-meter.js';
import { withoutWaitBudget } from './wait-budget.js';

export type JobState = 'queued' | 'running' | 'succeeded' | 'failed';
export type JobKind = 'backup' | 'verify' | 'restore';

/** How far a job has got: bytes read or written, keys handled. */
export interface JobProgress {
  bytes: number;
  keys: number;
  /** About how many bytes the job will read, when known beforehand (a snapshot: etcd's database size). */
  totalBytes?: number;
  /** Bytes per second over the last few seconds, while the job runs (set by the queue from `bytes`). */
  bytesPerSecond?: number;
}

/** A backup's progress (ops/backup.ts, onProgress) as a job's: bytes read, their total when known, keys read. */
export function backupJobProgress(p: { bytes: number; totalBytes?: number; keys?: number }): Partial<Omit<JobProgress, 'bytesPerSecond'>> {
  return { bytes: p.bytes, ...(p.totalBytes !== undefined && { totalBytes: p.totalBytes }), ...(p.keys !== undefined && { keys: p.keys }) };
}

/** A job as the API shows it. */
export interface JobView {
  id: string;
  kind: JobKind;
  /** Who asked: the HTTP API or the scheduler. */
  trigger: 'api' | 'schedule';
  state: JobState;
  /** True for jobs that write to a store or to etcd: those run one at a time, in order. */
  writes: boolean;
  /** What the job was asked to do (never secrets). */
  params: Record<string, unknown>;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  progress: JobProgress;
  /** Writing jobs ahead of this one, while it is queued. */
  queuePosition?: number;
  result?: unknown;
  error?: string;
}

/** What a job's work gets: an abort signal (shutdown or cancel) and a way to report progress. */
export interface JobContext {
  signal: AbortSignal;
  progress(p: Partial<Omit<JobProgress, 'bytesPerSecond'>>): void;
}

export interface JobRequest<T> {
  kind: JobKind;
  trigger?: JobView['trigger'];
  writes: boolean;
  params?: Record<string, unknown>;
  run: (ctx: JobContext) => Promise<T>;
}

export interface JobQueueOptions {
  /** Finished jobs kept for `get`, oldest dropped first. Default 100. */
  keepFinished?: number;
  now?: () => Date;
  newId?: () => string;
  /** Called whenever a job changes state (for logs and metrics). */
  onChange?: (job: JobView) => void;
}

interface Entry {
  view: JobView;
  run: (ctx: JobContext) => Promise<unknown>;
  controller: AbortController;
  done: Promise<void>;
  settle: () => void;
}

/**
 * Jobs of the API and the scheduler. Writing jobs (backup, restore) run one at a time in submission order, so a
 * restore never interleaves with a backup; reading jobs (verify) start at once. Each job's function gets its own
 * abort signal; `close` aborts what runs, drops what waits, and resolves when the running ones have ended.
 */
export class JobQueue {
  private readonly jobs = new Map<string, Entry>();
  private readonly waiting: Entry[] = [];
  private writer: Entry | undefined;
  private closed = false;
  private readonly keepFinished: number;
  private readonly now: () => Date;
  private readonly newId: () => string;
  private readonly onChange: (job: JobView) => void;

  constructor(opts: JobQueueOptions = {}) {
    this.keepFinished = opts.keepFinished ?? 100;
    this.now = opts.now ?? (() => new Date());
    this.newId = opts.newId ?? randomUUID;
    this.onChange = opts.onChange ?? (() => undefined);
  }

  /** Adds a job and returns its view at once; the job runs now, or (writing) when the writers before it are done. */
  submit<T>(req: JobRequest<T>): JobView {
    if (this.closed) throw new AbortedError('shutting down: no new jobs are accepted');
    let settle!: () => void;
    const done = new Promise<void>((resolve) => (settle = resolve));
    const entry: Entry = {
      view: {
        id: this.newId(),
        kind: req.kind,
        trigger: req.trigger ?? 'api',
        state: 'queued',
        writes: req.writes,
        params: req.params ?? {},
        createdAt: this.now().toISOString(),
        progress: { bytes: 0, keys: 0 },
      },
      run: req.run,
      controller: new AbortController(),
      done,
      settle,
    };
    this.jobs.set(entry.view.id, entry);
    this.onChange(this.snapshot(entry));
    // A job outlives the request that submitted it: it waits on servers as long as the settings allow, not as long
    // as an API request may (core/wait-budget.ts).
    withoutWaitBudget(() => {
      if (req.writes) {
        this.waiting.push(entry);
        this.pump();
      } else {
        void this.start(entry);
      }
    });
    return this.snapshot(entry);
  }

  /** A copy of one job, or undefined when there is no such job (or it was dropped long ago). */
  get(id: string): JobView | undefined {
    const entry = this.jobs.get(id);
    return entry ? this.snapshot(entry) : undefined;
  }

  /** Every known job, newest first. */
  list(): JobView[] {
    return [...this.jobs.values()].map((e) => this.snapshot(e)).reverse();
  }

  /** Jobs not yet finished that match `pred` (e.g. a scheduled backup already waiting). */
  pending(pred: (job: JobView) => boolean = () => true): JobView[] {
    return this.list().filter((j) => (j.state === 'queued' || j.state === 'running') && pred(j));
  }

  /**
   * The backups that queued or running jobs (a restore, a verify) were asked for, by id: retention after a backup
   * keeps them, as DELETE refuses them, so a restore accepted while a backup ran still finds its backup.
   */
  backupsInUse(): string[] {
    return this.pending().flatMap((j) => (typeof j.params.backupId === 'string' ? [j.params.backupId] : []));
  }

  /** Resolves when the job has finished (immediately for an unknown one). */
  async wait(id: string): Promise<JobView | undefined> {
    const entry = this.jobs.get(id);
    if (entry) await entry.done;
    return this.get(id);
  }

  /**
   * Stops taking jobs, fails the queued ones without running them, aborts the running ones with `reason`, and
   * resolves when those have returned.
   */
  async close(reason: unknown = new AbortedError('shutting down')): Promise<void> {
    this.closed = true;
    for (const entry of this.waiting.splice(0)) this.finish(entry, 'failed', undefined, 'cancelled: shutting down before it started');
    const running = [...this.jobs.values()].filter((e) => e.view.state === 'running');
    for (const e of running) e.controller.abort(reason);
    await Promise.all(running.map((e) => e.done));
  }

  private pump(): void {
    if (this.writer || this.waiting.length === 0) return;
    const next = this.waiting.shift()!;
    this.writer = next;
    void this.start(next).finally(() => {
      this.writer = undefined;
      this.pump();
    });
  }

  private async start(entry: Entry): Promise<void> {
    entry.view.state = 'running';
    const started = this.now();
    entry.view.startedAt = started.toISOString();
    this.onChange(this.snapshot(entry));
    const rate = new RateMeter();
    rate.add(0, started.getTime());
    const ctx: JobContext = {
      signal: entry.controller.signal,
      progress: (p) => {
        const progress = entry.view.progress;
        if (p.bytes !== undefined) {
          progress.bytes = p.bytes;
          rate.add(p.bytes, this.now().getTime());
          const perSecond = rate.perSecond();
          if (perSecond !== undefined) progress.bytesPerSecond = Math.round(perSecond);
        }
        if (p.keys !== undefined) progress.keys = p.keys;
        if (p.totalBytes !== undefined) progress.totalBytes = p.totalBytes;
      },
    };
    try {
      const result = await entry.run(ctx);
      this.finish(entry, 'succeeded', result);
    } catch (err) {
      this.finish(entry, 'failed', undefined, describeError(err));
    }
  }

  private finish(entry: Entry, state: 'succeeded' | 'failed', result: unknown, error?: string): void {
    entry.view.state = state;
    entry.view.finishedAt = this.now().toISOString();
    // A rate is news only while the job runs.
    delete entry.view.progress.bytesPerSecond;
    if (result !== undefined) entry.view.result = result;
    if (error !== undefined) entry.view.error = error;
    entry.settle();
    this.onChange(this.snapshot(entry));
    this.dropOld();
  }

  private dropOld(): void {
    const finished = [...this.jobs.values()].filter((e) => e.view.state === 'succeeded' || e.view.state === 'failed');
    for (const e of finished.slice(0, Math.max(0, finished.length - this.keepFinished))) this.jobs.delete(e.view.id);
  }

  private snapshot(entry: Entry): JobView {
    const view: JobView = { ...entry.view, progress: { ...entry.view.progress } };
    if (view.state === 'queued' && view.writes) {
      const index = this.waiting.indexOf(entry);
      if (index >= 0) view.queuePosition = index + (this.writer ? 1 : 0);
    }
    return view;
  }
}
