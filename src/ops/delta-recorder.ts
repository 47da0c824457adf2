import { etcdOf, isDeltaManifest, type DeltaManifest, type Manifest } from '../archive/manifest.js';
import { kindOf } from '../core/backup-kind.js';
import { validateChain } from '../core/delta-chain.js';
import { describeError } from '../core/errors.js';
import { newestFirst } from '../core/latest.js';
import { seriesOf } from '../core/series.js';
import { formatStrategy } from '../core/strategy.js';
import type { Config } from '../config/types.js';
import type { WatchStateChange } from '../etcd/delta-watch.js';
import { EtcdCredentialsError } from '../etcd/errors.js';
import { EndpointsSilentError, QuorumLostError, assertOneCluster, endpointStatuses, leaderless, pinnedEndpoints, quorumLost } from '../etcd/one-cluster.js';
import { compactedPast } from '../etcd/read-compacted.js';
import { RenewingEtcdClient, type EtcdClientSource } from '../etcd/renewing-client.js';
import type { Logger } from '../log.js';
import type { BackupRepository } from '../store/backup-repository.js';
import { ChainRecording } from './delta-chain-recording.js';
import { encryptionKeys } from './encryption-keys.js';

export interface DeltaRecorderDeps {
  config: Config;
  log: Logger;
  repo: BackupRepository;
  /** Takes a full backup now (through the job queue, with retention) and resolves with its manifest. */
  fullBackup: (reason: string) => Promise<Manifest>;
  /** True while a full backup runs. */
  backupRunning: () => boolean;
  /** Told of every segment stored (metrics). */
  onStored?: (m: DeltaManifest) => void;
}

/** What /healthz and the metrics read of the recording. */
export interface DeltaRecorderState {
  /** Since when no watch has been receiving (undefined: one is). */
  downSince?: number;
  /** The newest revision a stored segment covers. */
  lastRevision?: number;
  /** When the oldest change not yet stored was received. */
  oldestPendingAt?: number;
  /** Since when the full backup the first watch of this run waits for (its chain's base) has been in progress. */
  firstBaseSince?: number;
  /** Why no watch is receiving, when that is known to be more than a connection lost (etcd has lost its quorum). */
  downBecause?: string;
}

/** How often a lost watch asks every endpoint's status, at most (see explainLoss). */
const EXPLAIN_EVERY_MS = 5_000;

/** True for a backup a chain can start from: the values of every key it holds, read over v3. */
export function isChainBase(m: Manifest): boolean {
  const kind = kindOf(m.contentType);
  return !isDeltaManifest(m) && (kind === 'snapshot' || kind === 'key dump') && m.etcd?.apiVersion === 'v3';
}

/**
 * Continuous backups (RS_DELTA_INTERVAL): records every change after the newest full backup of run's series (see
 * `series`) as delta segments, chain after chain. It starts after the segments already stored for that backup (a restarted `run` goes
 * on where the last one stopped), takes a full backup first when there is none, starts a new chain at each new full
 * backup (the old one ends at exactly its revision), and when a chain cannot go on without a gap (etcd compacted past
 * it, or was replaced) takes a full backup at once and says why.
 */
export class DeltaRecorder {
  private readonly startedAt = Date.now();
  private current?: ChainRecording;
  private stopped = false;
  /** Aborted by stop(): ends the check of the endpoints, which waits up to RS_ETCD_TIMEOUT for a frozen etcd. */
  private readonly stopping = new AbortController();
  private downSince: number | undefined = this.startedAt;
  /** A watch has started in this run: a later one after a loss is the watch again, not the first. */
  private watched = false;
  private lastRevision?: number;
  /** The full backups whose manifest the recording has read (lookForNewBases reads each once). */
  private readonly known = new Set<string>();
  /** Set while a full backup runs before any watch of this run: the watch cannot start before it is stored. */
  private firstBaseSince?: number;
  private wake?: () => void;
  /** Refusals of the watch in a row (etcd's permissions or credentials): the pause before the next try grows. */
  private refusals = 0;
  /** The full backup taken for the last chain that broke, and the chains in a row that broke right after theirs. */
  private takenForBreak?: string;
  private breaks = 0;
  /** What was given up at exit (the store failing): `run` then exits 1 saying so. */
  givenUp?: string;
  /**
   * Set by stop() when no watch was receiving then (lost, or not back yet): the first revision not recorded, and since
   * when the watch was down. Nothing received is lost (that is givenUp): `run` says it on its way out.
   */
  unrecorded?: { fromRevision: number; downForMs: number };
  /** Since the watch was lost: its reconnections and when the next reminder that it still is is due (see onState). */
  private lost?: { since: number; attempts: number; remindAt: number; remindEveryMs: number };
  /** Why the watch is down, when etcd told more than a dropped connection (see downBecause in the state). */
  private downBecause?: string;
  private explaining = false;
  private explainedAt = 0;

  constructor(private readonly deps: DeltaRecorderDeps) {}

  get state(): DeltaRecorderState {
    const oldest = this.current?.oldestPendingAt;
    return {
      ...(this.downSince !== undefined && { downSince: this.downSince }),
      ...(this.lastRevision !== undefined && { lastRevision: this.lastRevision }),
      ...(oldest !== undefined && { oldestPendingAt: oldest }),
      ...(this.firstBaseSince !== undefined && { firstBaseSince: this.firstBaseSince }),
      ...(this.downSince !== undefined && this.downBecause !== undefined && { downBecause: this.downBecause }),
    };
  }

  /** A full backup succeeded (the run's observer): the chain in progress ends at its revision, a new one starts. */
  newBase(m: Manifest): void {
    if (!isChainBase(m)) return;
    const current = this.current;
    // Only a backup of the chain's own series replaces its base: a `filter:secrets` backup from the API must not
    // narrow the recording of a snapshot chain to the secrets.
    if (current && m.id !== current.base.id && seriesOf(m) === seriesOf(current.base) && etcdOf(m).revision >= etcdOf(current.base).revision) current.endAt(m);
  }

  /** Stops recording: the changes received so far are stored before run() resolves. */
  stop(): void {
    this.stopped = true;
    if (this.downSince !== undefined && this.current !== undefined) {
      this.unrecorded = { fromRevision: this.current.through + 1, downForMs: Date.now() - this.downSince };
    }
    this.current?.stop();
    this.stopping.abort(new Error('stopping'));
    this.wake?.();
  }

  /** Records until stop(). */
  async run(): Promise<void> {
    const { etcd, split } = await this.checkedEndpoints();
    const config = { ...this.deps.config, etcd };
    // Read again before every new connection of the watch: certificates renewed in place are taken without a restart.
    const client = new RenewingEtcdClient(etcd, this.deps.log);
    try {
      const keys = await encryptionKeys(this.deps.config);
      let start = await this.startingPoint(split);
      while (start !== undefined && !this.stopped) {
        const rec = new ChainRecording({ ...this.deps, config, client, keys, onState: (c) => this.onState(c), onStored: (m) => this.stored(m), onGivenUp: (what) => (this.givenUp ??= what) }, start.base, start.fromRevision);
        this.current = rec;
        this.deps.log.info({ base: start.base.id, baseRevision: etcdOf(start.base).revision, fromRevision: start.fromRevision }, 'recording changes');
        if (this.stopped) rec.stop();
        const stopLooking = this.lookForNewBases(rec, client);
        const end = await rec.record().finally(stopLooking);
        this.current = undefined;
        if (end.kind === 'stopped') break;
        if (end.kind === 'new-base') {
          start = { base: end.base, fromRevision: etcdOf(end.base).revision + 1 };
          continue;
        }
        this.downSince ??= Date.now();
        start = end.error instanceof EtcdCredentialsError ? await this.refused(rec, end.error) : await this.afterBreak(rec, end.error);
      }
    } finally {
      client.close();
    }
  }

  /**
   * Full backups of the chain's series that another job stores (the nightly CronJob beside a `run` without
   * RS_SCHEDULE): the store is looked at every few intervals (the names after the chain's base only), and the newest
   * one found ends the chain at its revision, as a full backup of run's own does. Those in the store when the recording
   * started are not looked at again: the chain written last was chosen among them (baseOf). One whose revision etcd
   * has compacted the history after (a backup whose upload took longer than kube-apiserver keeps history) is not
   * taken: a new chain from it could not read its first changes, and its break took a full backup at once, while the
   * chain in progress holds them already; it goes on, no revision missing.
   */
  private lookForNewBases(rec: ChainRecording, client: EtcdClientSource): () => void {
    const { repo, log, config } = this.deps;
    const everyMs = Math.min(60_000, Math.max(1_000, 10 * config.delta.intervalMs));
    const abort = new AbortController();
    let busy = false;
    const look = async (): Promise<void> => {
      if (busy) return;
      busy = true;
      try {
        const found = await repo.fullBackupsAfter(rec.base.id, (id) => this.known.has(id), { signal: abort.signal, retryWindowMs: everyMs });
        for (const m of found) this.known.add(m.id);
        const newer = found
          .filter((m) => isChainBase(m) && seriesOf(m) === seriesOf(rec.base) && etcdOf(m).revision > etcdOf(rec.base).revision)
          .sort((a, b) => etcdOf(b).revision - etcdOf(a).revision || newestFirst(a, b))[0];
        if (newer === undefined || abort.signal.aborted || this.current !== rec) return;
        const compacted = await compactedPast(client.current, etcdOf(newer).revision + 1);
        if (compacted !== undefined) {
          const fields = { base: rec.base.id, newBase: newer.id, revision: etcdOf(newer).revision, compactedTo: compacted };
          log.info(fields, "another job stored a full backup of the chain's series, but etcd has compacted the history after its revision: the chain goes on from its own base, no revision missing");
          return;
        }
        if (abort.signal.aborted || this.current !== rec) return;
        log.info({ base: rec.base.id, newBase: newer.id, revision: etcdOf(newer).revision }, 'another job stored a full backup of the chain\'s series: the chain ends at its revision and a new one starts from it');
        this.newBase(newer);
      } catch (err) {
        if (!abort.signal.aborted) log.warn({ err: describeError(err), retryInMs: everyMs }, 'cannot look in the store for full backups of other jobs; trying again');
      } finally {
        busy = false;
      }
    };
    const timer = setInterval(() => void look(), everyMs);
    return () => {
      clearInterval(timer);
      abort.abort();
    };
  }

  /**
   * The endpoints the watch may use, as every full backup's (withEtcd): the one-cluster check's, without those that
   * had not told their cluster a second after the others (a live member of another cluster that answers slowly would
   * be watched as this one: its changes recorded onto this cluster's chain), and the cluster every answer must be of.
   * `split`: the check refused the endpoints (see startingPoint).
   */
  private async checkedEndpoints(): Promise<{ etcd: Config['etcd']; split?: unknown }> {
    const cfg = this.deps.config.etcd;
    for (let attempt = 0; ; attempt++) {
      try {
        const checked = await assertOneCluster(cfg, this.stopping.signal);
        for (const endpoint of checked.late) {
          this.deps.log.warn({ endpoint }, `passing over ${endpoint} for the watch of changes: it did not answer within a second of the other members (frozen?), and nothing is read from it, whose cluster is not known`);
        }
        return { etcd: pinnedEndpoints(cfg, checked) };
      } catch (err) {
        // No endpoint answered (a frozen etcd): that is no reason to end the stored chain either; the watch meets the
        // same endpoints and waits for them as it does for an etcd lost while it runs.
        if (err instanceof EndpointsSilentError || this.stopped) return { etcd: cfg };
        // A lost quorum is no reason to end the stored chain (nothing can be written meanwhile): it goes on once a
        // quorum is back. Asked again, with a growing pause, until then; /healthz counts the recording as down.
        if (!(err instanceof QuorumLostError) || this.stopped) return { etcd: cfg, split: err };
        const waitMs = this.pause(attempt);
        this.downBecause = err.message;
        this.deps.log.error({ err: describeError(err), retryInMs: waitMs }, 'etcd has lost its quorum: continuous backups wait and try again, and go on with the stored chain once a quorum answers');
        await this.sleep(waitMs);
      }
    }
  }

  /** Where the recording starts: after the newest full backup and its stored segments; without one, a full backup. */
  private async startingPoint(split: unknown): Promise<{ base: Manifest; fromRevision: number } | undefined> {
    const backups = await this.listing();
    if (backups === undefined) return undefined;
    for (const m of backups) if (!isDeltaManifest(m)) this.known.add(m.id);
    const base = this.baseOf(backups);
    if (base === undefined) {
      const m = await this.fullBackup(this.noBaseReason(backups));
      return m && { base: m, fromRevision: etcdOf(m).revision + 1 };
    }
    const segments = backups.filter((m): m is DeltaManifest => isDeltaManifest(m) && m.base === base.id);
    const chain = validateChain({ id: base.id, createdAt: base.createdAt, revision: etcdOf(base).revision }, segments);
    if (chain.problems.length > 0) {
      const m = await this.fullBackup(`the chain of ${base.id} is broken (${chain.problems[0]!}): taking a full backup to start a new one`);
      return m && { base: m, fromRevision: etcdOf(m).revision + 1 };
    }
    // Every full backup checks that the endpoints are of one cluster (withEtcd); going on with a stored chain checks it
    // (checkedEndpoints), or the watch would record the changes of whichever cluster the client picked.
    if (split !== undefined) {
      const m = await this.fullBackup(`the chain of ${base.id} cannot go on: ${describeError(split)}`);
      return m && { base: m, fromRevision: etcdOf(m).revision + 1 };
    }
    if (chain.covered.length > 0) this.lastRevision = chain.coveredTo;
    return { base, fromRevision: chain.coveredTo + 1 };
  }

  /**
   * The series run's chains are of: RS_BACKUP_STRATEGY's, or, when it is unset, `snapshot`, what run takes then on a
   * v3 etcd (the only one a chain can record). A chain of the newest full backup of any kind would have been based on
   * the hourly `filter:` CronJob's dump: a chain that brings back its resources only, which --data-dir cannot restore.
   */
  private get series(): string {
    return seriesOf({ strategy: formatStrategy(this.deps.config.strategy ?? { kind: 'snapshot' }) });
  }

  /**
   * The full backup of run's series whose chain was written last: its newest segment, or itself. A recorder goes on
   * with its chain when another full backup (one from the API, or another job's) was taken meanwhile; a full backup
   * newer than the last segment starts anew. Written last is by id, as `latest` and retention go (core/latest.ts
   * newestFirst), not by createdAt: a full backup stamped by a clock that was ahead is older than the one taken after
   * it, whose chain retention keeps as the one being recorded (chainUnits' newestBase), and a chain recorded after the
   * older one would be deleted under it.
   */
  private baseOf(backups: Manifest[]): Manifest | undefined {
    const lastWritten = new Map<string, string>();
    for (const m of backups) {
      if (isDeltaManifest(m) && (lastWritten.get(m.base) ?? '') < m.id) lastWritten.set(m.base, m.id);
    }
    const activity = (m: Manifest): Pick<Manifest, 'id'> => ({ id: [m.id, lastWritten.get(m.id) ?? ''].sort().at(-1)! });
    return backups
      .filter((m) => isChainBase(m) && seriesOf(m) === this.series)
      .sort((a, b) => newestFirst(activity(a), activity(b)))[0];
  }

  /** Why run takes a full backup to start with: none of its series, and the newest of another it does not record onto. */
  private noBaseReason(backups: Manifest[]): string {
    const { config, repo } = this.deps;
    const whose = config.strategy ? 'RS_BACKUP_STRATEGY' : 'the strategy of run: RS_BACKUP_STRATEGY is unset';
    const other = backups.filter(isChainBase).sort(newestFirst)[0];
    const besides = other === undefined ? '' : ` (the newest full backup, ${other.id}, is of series "${seriesOf(other)}": a chain is recorded onto one of run's own series only)`;
    return `no full backup of series "${this.series}" (${whose}) of cluster "${config.cluster}" in ${repo.store.location} yet${besides}: taking one to start the chain of changes; the watch of etcd starts once it is stored`;
  }

  /** The store's backups, asked again (with a pause) while the store cannot be listed; undefined once stopped. */
  private async listing(): Promise<Manifest[] | undefined> {
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        return (await this.deps.repo.list()).backups;
      } catch (err) {
        const waitMs = this.pause(attempt);
        this.deps.log.warn({ err: describeError(err), retryInMs: waitMs }, 'cannot list the store to find where the chain of changes starts; trying again');
        await this.sleep(waitMs);
      }
    }
    return undefined;
  }

  private pause(attempt: number): number {
    return Math.min(60_000, this.deps.config.delta.intervalMs * 2 ** Math.min(attempt, 6));
  }

  /** Waits `ms`, or until stop(). */
  private async sleep(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /**
   * etcd refused the watch (the user may not read the span it covers, or its credentials): no change was missed, and
   * a full backup would meet the same refusal at its watch, one after another into the store. The chain waits, with a
   * growing pause, and goes on where it stopped once etcd lets the watch in; /healthz counts it as down meanwhile.
   */
  private async refused(rec: ChainRecording, error: EtcdCredentialsError): Promise<{ base: Manifest; fromRevision: number } | undefined> {
    const waitMs = this.pause(this.refusals++);
    this.deps.log.error({ base: rec.base.id, through: rec.through, err: describeError(error), retryInMs: waitMs }, 'etcd refuses the watch of changes: continuous backups wait and try again');
    await this.sleep(waitMs);
    return this.stopped ? undefined : { base: rec.base, fromRevision: rec.through + 1 };
  }

  /**
   * A chain that cannot go on: a full backup at once (or the one that arrived meanwhile), and a new chain from it. A
   * chain that broke before it received a change, from a full backup taken for the chain before it, fails for a reason
   * the next full backup would meet again: it waits first, with a growing pause, saying what fails.
   */
  private async afterBreak(rec: ChainRecording, error: unknown): Promise<{ base: Manifest; fromRevision: number } | undefined> {
    const why = describeError(error);
    if (rec.base.id === this.takenForBreak && rec.through < rec.fromRevision) {
      const waitMs = this.pause(this.breaks++);
      this.deps.log.error({ base: rec.base.id, err: why, retryInMs: waitMs }, 'the watch of changes fails again right after a fresh full backup: continuous backups wait before the next one');
      await this.sleep(waitMs);
      if (this.stopped) return undefined;
    } else this.breaks = 0;
    this.deps.log.warn({ base: rec.base.id, through: rec.through, err: why }, 'the chain of changes cannot go on without a gap: taking a full backup at once');
    const m = await this.fullBackup(`the chain of ${rec.base.id} broke at revision ${rec.through}: ${why}`);
    this.takenForBreak = m?.id;
    return m && { base: m, fromRevision: etcdOf(m).revision + 1 };
  }

  /**
   * Asks every endpoint's status once the watch is lost: a cluster that lost its quorum drops the watch as a member
   * that died does ("Connection dropped"), and then refuses it in silence, while nothing can be recorded until members
   * come back. Said once, and by /healthz for as long (downBecause).
   */
  private async explainLoss(): Promise<void> {
    const now = Date.now();
    if (this.downBecause !== undefined || this.explaining || now - this.explainedAt < EXPLAIN_EVERY_MS) return;
    this.explaining = true;
    this.explainedAt = now;
    try {
      const cfg = this.deps.config.etcd;
      const statuses = await endpointStatuses(cfg);
      const lost = leaderless(statuses) ? await quorumLost(cfg, statuses) : undefined;
      if (lost === undefined || this.downSince === undefined) return;
      this.downBecause = lost.message;
      this.deps.log.error({ err: lost.message }, 'the watch of etcd is lost because etcd has lost its quorum: continuous backups go on from the last recorded revision once a quorum answers');
    } catch {
      // Nothing more is known than the loss said.
    } finally {
      this.explaining = false;
    }
  }

  /** A full backup, tried again (with a growing pause) until it succeeds or the recording stops. */
  private async fullBackup(reason: string): Promise<Manifest | undefined> {
    this.deps.log.warn({ reason }, 'taking a full backup for continuous backups');
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        const m = await this.takeFullBackup(reason);
        if (isChainBase(m)) return m;
        this.deps.log.error({ id: m.id, strategy: m.strategy }, 'the full backup cannot start a chain of changes (it holds no v3 values): continuous backups stop');
        return undefined;
      } catch (err) {
        if (this.stopped) break;
        const waitMs = this.pause(attempt);
        this.deps.log.warn({ err: describeError(err), retryInMs: waitMs }, 'the full backup for continuous backups failed; trying again');
        await this.sleep(waitMs);
      }
    }
    return undefined;
  }

  /**
   * One full backup. Before the first watch of this run, /healthz reads it as the first base in progress (the watch
   * cannot start before its base is stored, however long a large database takes), and once it is stored the watch
   * counts as down from then, not from the start.
   */
  private async takeFullBackup(reason: string): Promise<Manifest> {
    if (this.watched) return this.deps.fullBackup(reason);
    this.firstBaseSince = Date.now();
    try {
      const m = await this.deps.fullBackup(reason);
      this.downSince = Date.now();
      return m;
    } finally {
      this.firstBaseSince = undefined;
    }
  }

  /**
   * The watch's ups and downs, said once each: while etcd is down the watch is tried again every couple of seconds,
   * and a line for each try filled the log. One line when it is lost, a reminder after a minute, then at doubling
   * times up to every hour (/healthz and reshifter_delta_lag_seconds say it all along), and one when it is back.
   */
  private onState(change: WatchStateChange): void {
    const now = Date.now();
    if (change.state === 'watching') {
      // downSince starts with the run, and the first watch waits for the chain's base (a first full backup can take
      // far longer than an interval): only a watch that was lost, or a chain that broke, is watched 'again'.
      if (!this.watched) this.deps.log.info({ fromRevision: change.fromRevision, sinceStartMs: now - this.startedAt }, 'watching etcd for changes');
      else if (this.lost !== undefined || (this.downSince !== undefined && now - this.downSince > this.deps.config.delta.intervalMs)) {
        const down = this.lost && { downForMs: now - this.lost.since, attempts: this.lost.attempts };
        this.deps.log.info({ fromRevision: change.fromRevision, ...down }, 'watching etcd for changes again');
      }
      this.watched = true;
      this.downSince = undefined;
      this.downBecause = undefined;
      this.refusals = 0;
      this.lost = undefined;
      return;
    }
    this.downSince ??= now;
    const err = describeError(change.error);
    if (this.lost === undefined) {
      this.lost = { since: now, attempts: 1, remindAt: now + 60_000, remindEveryMs: 60_000 };
      this.deps.log.warn({ err, retryInMs: change.retryInMs }, 'lost the watch of etcd; resuming from the last recorded revision');
      void this.explainLoss();
      return;
    }
    this.lost.attempts++;
    // The members that died may be named leader a second longer by the one left: asked again while lost.
    void this.explainLoss();
    if (now < this.lost.remindAt) return;
    this.lost.remindEveryMs = Math.min(2 * this.lost.remindEveryMs, 3_600_000);
    this.lost.remindAt = now + this.lost.remindEveryMs;
    this.deps.log.warn({ err, downForMs: now - this.lost.since, attempts: this.lost.attempts }, 'still no watch of etcd; trying again');
  }

  private stored(m: DeltaManifest): void {
    this.lastRevision = m.toRevision;
    this.deps.onStored?.(m);
  }
}
