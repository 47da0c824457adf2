import { Batcher } from '../core/batches.js';
import type { KeyRecord } from '../core/key-record.js';
import { RestorePlan, decideRestore, type ExistingKey, type RestoreDecision } from '../core/restore-plan.js';
import { EtcdUnansweredError } from './errors.js';
import { EtcdInterruptedError, currentInterrupt } from './interrupt.js';
import type { RestoreTarget } from './restore-target.js';

export interface KeyRestorerOptions {
  dryRun: boolean;
  skipExisting: boolean;
  /**
   * Transactions in flight. 8: a restore spends CPU of its own on every batch (reading the dump, planning, encoding),
   * and with 4 etcd waited for it; 8 restored 100k keys with 100 MB of values ~9% faster on 2 cores (6 of 6
   * alternating rounds), while a plain loader gains nothing from more than 4 (bench/results/HISTORY.md).
   */
  inFlight?: number;
  /** Operations per transaction: etcd's default --max-txn-ops. */
  maxOps?: number;
  /** Bytes of keys and values per transaction, well under etcd's default 1.5 MiB --max-request-bytes. */
  maxBytes?: number;
}

interface Item {
  record: KeyRecord;
  resource: string;
}

/** Per-op overhead of a put in a txn request (field tags, lengths, lease id). */
const OP_OVERHEAD = 32;

/**
 * Restores keys in batches: reads what the target holds for a batch, decides create / update / unchanged / skipped
 * for each key (core/restore-plan.ts), and writes the creates and updates in one transaction, several batches in
 * flight. Counts every decision per resource; `written` counts keys in committed writes only, `inDoubt` the keys of
 * writes that etcd did not answer (it may have applied them before it went away). After the first failure no new
 * batch starts; `drain` throws it.
 */
export class KeyRestorer {
  readonly plan = new RestorePlan();
  written = 0;
  bytesWritten = 0;
  /** Keys of writes sent but never answered: etcd may or may not hold them. */
  inDoubt = 0;
  private readonly batcher: Batcher<Item>;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly maxInFlight: number;
  private failure?: unknown;
  /** Whether to create keys in the round trip that checks they are absent (see apply). */
  private optimistic = true;

  constructor(
    private readonly target: RestoreTarget,
    private readonly opts: KeyRestorerOptions,
  ) {
    this.maxInFlight = opts.inFlight ?? 8;
    this.batcher = new Batcher<Item>(opts.maxOps ?? 128, opts.maxBytes ?? 1024 * 1024, (i) => i.record.key.length + i.record.value.length + OP_OVERHEAD);
  }

  /** Counts a key the selection left out. */
  skipFiltered(resource: string): void {
    this.plan.add(resource, { action: 'skipped', reason: 'filtered' });
  }

  /**
   * Queues a key; a promise, to wait for, only when it completed a batch (which waits while the maximum of batches is
   * in flight): most keys just join a batch, and an async call per key was garbage for nothing.
   */
  add(record: KeyRecord, resource: string): Promise<void> | undefined {
    this.throwIfFailed();
    const full = this.batcher.add({ record, resource });
    return full ? this.start(full) : undefined;
  }

  /** Writes what is queued and waits for every batch in flight; throws the first failure. */
  async drain(): Promise<void> {
    const rest = this.batcher.flush();
    if (rest && this.failure === undefined) await this.start(rest);
    await Promise.all(this.inFlight);
    this.throwIfFailed();
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  private async start(batch: Item[]): Promise<void> {
    while (this.inFlight.size >= this.maxInFlight) await Promise.race(this.inFlight);
    this.throwIfFailed();
    const p = this.apply(batch).catch((err: unknown) => {
      this.failure ??= err;
    });
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
  }

  private async apply(batch: Item[]): Promise<void> {
    const keys = batch.map((i) => i.record.key);
    // What the target reads before its first write fails here, outside `sent`: nothing was sent, nothing is in doubt.
    await this.target.prepare?.(keys[0]!);
    let existing: Array<ExistingKey | undefined> | undefined;
    if (this.optimistic && !this.opts.dryRun && this.target.createIfAbsent) {
      // Into an empty target (the usual restore) every key is a create: write them in the same round trip that checks
      // that none exists. The first batch that finds keys present ends this for the rest of the restore.
      const creates = this.decide(batch, []);
      if (creates.writes.length > 0) {
        existing = await this.sent(creates, () => this.target.createIfAbsent!(keys, creates.writes));
        if (existing === undefined) {
          this.count(batch, creates);
          this.wrote(creates);
          return;
        }
        this.optimistic = false;
      }
    }
    existing ??= await this.target.existing(keys);
    const planned = this.decide(batch, existing);
    this.count(batch, planned);
    if (this.opts.dryRun || planned.writes.length === 0) return;
    await this.sent(planned, () => this.target.write(planned.writes));
    this.wrote(planned);
  }

  /**
   * Runs a write; when etcd did not answer it, its keys are in doubt. So are those of a write whose answer was given
   * up because the restore was stopped (SIGTERM) after sending it: etcd may have applied it all the same.
   */
  private async sent<T>(planned: Planned, write: () => Promise<T>): Promise<T> {
    const sentBeforeStop = currentInterrupt()?.aborted !== true;
    try {
      return await write();
    } catch (err) {
      if (err instanceof EtcdUnansweredError || (err instanceof EtcdInterruptedError && sentBeforeStop)) this.inDoubt += planned.writes.length;
      throw err;
    }
  }

  /** What to do with each key of a batch, given what the target holds; the records that are to be written. */
  private decide(batch: Item[], existing: ReadonlyArray<ExistingKey | undefined>): Planned {
    const decisions = batch.map((item, i) => decideRestore(item.record, existing[i], this.opts));
    const writes = batch.filter((_, i) => decisions[i]!.action === 'create' || decisions[i]!.action === 'update').map((i) => i.record);
    return { decisions, writes };
  }

  private count(batch: Item[], planned: Planned): void {
    batch.forEach((item, i) => this.plan.add(item.resource, planned.decisions[i]!));
  }

  private wrote(planned: Planned): void {
    this.written += planned.writes.length;
    for (const r of planned.writes) this.bytesWritten += r.key.length + r.value.length;
  }
}

/** A batch's decisions, and the records among them to write (creates and updates). */
interface Planned {
  decisions: RestoreDecision[];
  writes: KeyRecord[];
}
