import { createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Etcd3 } from 'etcd3';
import type { CodecKeys } from '../archive/codec.js';
import { AbortedError, OperationError, describeError } from '../core/errors.js';
import { TargetNotRecordedError } from '../core/delta-chain.js';
import { EventReplayer } from '../etcd/event-replayer.js';
import { LeaseKeeper } from '../etcd/lease-keeper.js';
import { REPLAY_MEMBER, replayUrls, startReplayEtcd, type ReplayEtcd, type ReplayUrls } from '../etcd/replay-etcd.js';
import { findRestoreTool, runSnapshotRestore, type RestoreTool, type SnapshotRestoreOptions } from '../etcd/snapshot-restore-tool.js';
import { openSnapshotStream } from '../etcd/snapshot-stream.js';
import { makeTempDir, trackTempPath } from '../exit-cleanup.js';
import type { Logger } from '../log.js';
import { readCounted, reportProgress } from '../progress.js';
import type { BackupRepository } from '../store/backup-repository.js';
import type { OpContext } from './context.js';
import { encryptionKeys } from './encryption-keys.js';
import { openBackup } from './open-backup.js';
import { prepareDataDir, warnOfSourceMembers } from './restore-data-dir.js';
import { BaseTooNewError, openPoint, type PointReport, type PointResolution } from './restore-point.js';
import type { OpenedSegments } from './segment-events.js';

export interface PointDataDirReport extends PointReport {
  dataDir: string;
  tool: RestoreTool;
  /** The revision of the restored data dir (its etcd numbers the replayed changes in transactions of its own). */
  dataDirRevision: number;
  /** Said when the base is of several members and is restored as one (core/source-members-warning.ts). */
  warning?: string;
}

/**
 * Restores a snapshot base and its recorded changes up to a revision into a new data directory, as etcd-backup-restore
 * does: the snapshot is restored into a temporary single-member data dir, a temporary etcd on free loopback ports
 * starts on it, the changes after the revision it reports and up to the target are applied in revision order, its
 * snapshot is taken and it stops; that snapshot is restored into `--data-dir` with the operator's flags exactly as
 * `restore --data-dir` does. The first resolution whose base does not hold a state past the target is used.
 */
export async function restorePointDataDir(ctx: OpContext, repo: BackupRepository, resolutions: readonly PointResolution[], asked: string, opts: SnapshotRestoreOptions): Promise<PointDataDirReport> {
  const tool = await findRestoreTool();
  const dataDir = resolve(opts.dataDir);
  await prepareDataDir(dataDir, opts);
  // The bases a target may be restored from are all of this cluster: the first (best) tells its members.
  const first = resolutions[0]?.chain.base.manifest;
  const warning = first && warnOfSourceMembers(ctx.log.child({ component: 'restore', backupId: first.id }), first, opts);
  const keys = await encryptionKeys(ctx.config, { forReading: true });
  const tooNew: string[] = [];
  for (const r of resolutions) {
    try {
      const report = await fromChain(ctx, repo, r, { tool, keys, asked, opts: { ...opts, dataDir } });
      return { ...report, ...(warning !== undefined && { warning }) };
    } catch (err) {
      if (!(err instanceof BaseTooNewError)) throw err;
      tooNew.push(err.message);
      ctx.log.warn({ base: r.chain.base.id, why: err.message }, 'base holds a state past the target, trying an older chain');
    }
  }
  throw new TargetNotRecordedError(`no chain can restore to ${asked}: ${tooNew.join('; ')}`);
}

interface ChainRun {
  tool: RestoreTool;
  keys: CodecKeys;
  asked: string;
  opts: SnapshotRestoreOptions;
}

async function fromChain(ctx: OpContext, repo: BackupRepository, r: PointResolution, run: ChainRun): Promise<PointDataDirReport> {
  const base = r.chain.base;
  const log = ctx.log.child({ component: 'restore', backupId: base.id });
  const work = await makeTempDir(repo.workDir ?? tmpdir());
  const release = trackTempPath(work);
  let segments: OpenedSegments | undefined;
  try {
    const urls = await replayUrls();
    await restoreBase(ctx, repo, r, run, join(work, 'replay'), urls);
    const point = await openPoint(repo, r, run.keys, ctx.signal, log);
    segments = point.segments;
    log.info({ base: base.id, segments: r.segments.length, revision: point.revision }, 'replaying recorded changes');
    const replayed = await replay(ctx, log, join(work, 'replay'), urls, { work, segments, revision: point.revision, asked: run.asked, baseId: base.id, final: join(work, 'final.db') });
    const final = join(work, 'final.db');
    log.info({ dataDir: run.opts.dataDir, revision: point.revision }, `restoring the state at revision ${point.revision} into ${run.opts.dataDir}`);
    await runSnapshotRestore(run.tool, final, run.opts, ctx.signal, { log, total: (await stat(final)).size });
    log.info({ dataDir: run.opts.dataDir, revision: point.revision, events: replayed.events }, 'restored to a point in time');
    return {
      target: { asked: run.asked, revision: point.revision, ...(replayed.observedAt !== undefined && { observedAt: replayed.observedAt }) },
      base: { id: base.id, revision: base.revision, restoredRevision: replayed.baseRevision },
      segments: r.segments.map((s) => s.id),
      events: replayed.events,
      dataDir: run.opts.dataDir,
      tool: run.tool,
      dataDirRevision: replayed.finalRevision,
    };
  } finally {
    await segments?.remove();
    await rm(work, { recursive: true, force: true });
    release();
  }
}

/** The base snapshot, downloaded and verified, restored into the temporary data dir. */
async function restoreBase(ctx: OpContext, repo: BackupRepository, r: PointResolution, run: ChainRun, dir: string, urls: ReplayUrls): Promise<void> {
  const m = r.chain.base.manifest;
  const backup = await openBackup(repo, m, run.keys, ctx.signal, { purpose: 'restore', log: ctx.log });
  try {
    if (backup.kind !== 'snapshot') throw new OperationError(`backup ${m.id} is a ${m.strategy} backup (${m.contentType}), not an etcd snapshot`);
    const replayMember = { dataDir: dir, name: REPLAY_MEMBER, initialCluster: `${REPLAY_MEMBER}=${urls.peer}`, initialAdvertisePeerUrls: urls.peer };
    const log = ctx.log.child({ component: 'restore', backupId: m.id });
    log.info({ tool: run.tool.command }, `restoring snapshot ${m.id} into a temporary data directory, to replay the recorded changes onto`);
    await runSnapshotRestore(run.tool, backup.file, replayMember, ctx.signal, { log, total: m.rawSizeBytes });
  } finally {
    await backup.close();
  }
}

interface Replay {
  /** The restore's temporary folder: removed by the replay etcd's guard if the restore is killed outright. */
  work: string;
  segments: OpenedSegments;
  revision: number;
  asked: string;
  baseId: string;
  /** Where the final snapshot goes. */
  final: string;
}

/** Starts the temporary etcd, applies the changes after what it holds up to the target, snapshots it and stops it. */
async function replay(ctx: OpContext, log: Logger, dir: string, urls: ReplayUrls, p: Replay): Promise<{ events: number; baseRevision: number; finalRevision: number; observedAt?: string }> {
  log.info({ clientUrl: urls.client }, 'starting a temporary etcd on the restored base');
  // Its death while starting (the OOM killer, a full disk) is said as in the replay: the restore failed, nothing written.
  const etcd = await startReplayEtcd(dir, urls, { removeIfKilled: p.work, signal: ctx.signal }).catch((err: unknown) => {
    throw stoppedBySignal(ctx, p, err) ?? new OperationError(`restore to ${p.asked} failed: ${describeError(err)}; --data-dir was not written`, { cause: err });
  });
  const client = etcd.client;
  let keeper: LeaseKeeper | undefined;
  try {
    const baseRevision = await etcd.revision();
    if (baseRevision > p.revision) {
      throw new BaseTooNewError(`snapshot ${p.baseId} holds revision ${baseRevision}, past the target revision ${p.revision}`);
    }
    keeper = await LeaseKeeper.start(client);
    const replayer = new EventReplayer(client);
    let observedAt: number | undefined;
    // Progress of a long replay: the changes applied (as keys) and their bytes.
    const stopProgress = reportProgress(log, 'replay', () => ({ bytes: replayer.bytesApplied, keys: replayer.applied }));
    try {
      for await (const e of p.segments.events(baseRevision, p.revision)) {
        if (ctx.signal.aborted) throw new AbortedError('restore interrupted (SIGTERM/SIGINT) while replaying recorded changes; --data-dir was not written');
        await replayer.add(e);
        keeper.watch(e.lease);
        observedAt = e.observedAt;
      }
      await replayer.flush();
    } finally {
      stopProgress();
    }
    const finalRevision = await etcd.revision();
    log.info({ baseRevision, events: replayer.applied, transactions: replayer.transactions }, 'recorded changes replayed');
    log.info({ revision: finalRevision }, 'taking the snapshot of the temporary etcd');
    await saveReplaySnapshot(client, p.final, log, ctx.signal);
    return { events: replayer.applied, baseRevision, finalRevision, ...(observedAt !== undefined && { observedAt: new Date(observedAt).toISOString() }) };
  } catch (err) {
    throw await replayFailure(ctx, p, etcd, err);
  } finally {
    keeper?.stop();
    await etcd.stop();
  }
}

/**
 * The temporary etcd's snapshot into `file`, its bytes reported as `snapshot` progress of the database's size: for a
 * database of gigabytes it takes minutes, between the replay's progress and the restore's.
 */
export async function saveReplaySnapshot(client: Etcd3, file: string, log: Logger, signal?: AbortSignal): Promise<void> {
  const total = await client.maintenance.status().then((s) => Number(s.dbSize), () => undefined);
  const counted = readCounted(await openSnapshotStream(client), { log, what: 'snapshot', ...(total !== undefined && total > 0 && { total }) });
  await pipeline(counted, createWriteStream(file, { mode: 0o600 }), ...(signal !== undefined ? [{ signal }] : []));
}

/**
 * Why the replay failed. A request refused because the temporary etcd is gone says how it ended, not the refused
 * connection: killed by SIGINT or SIGTERM (a terminal's Ctrl-C reaches it too, and may do so before this process
 * hears its own), the restore stopped; otherwise its last words (a full disk, the OOM killer).
 */
async function replayFailure(ctx: OpContext, p: Replay, etcd: ReplayEtcd, err: unknown): Promise<unknown> {
  if (err instanceof BaseTooNewError) return err;
  const ended = ctx.signal.aborted ? undefined : await etcd.ended(1000);
  const stopped = stoppedBySignal(ctx, p, err);
  if (stopped !== undefined) return stopped;
  if (ended?.signal === 'SIGINT' || ended?.signal === 'SIGTERM') {
    return new AbortedError(`restore to ${p.asked} stopped: the temporary etcd of the restore ${ended.text}; --data-dir was not written`, { cause: err });
  }
  if (ended !== undefined) {
    return new OperationError(`restore to ${p.asked} failed: the temporary etcd of the restore ${ended.text} (${describeError(err)}); --data-dir was not written`, { cause: err });
  }
  if (err instanceof OperationError) return err;
  return new OperationError(`restore to ${p.asked} failed in the temporary etcd: ${describeError(err)}`, { cause: err });
}

/**
 * The replay's error once SIGTERM/SIGINT stopped the restore: a terminal's Ctrl-C reaches the temporary etcd too, so
 * whatever failed next (its start, a request to it) is the signal's doing, not a fault of etcd or of the backup.
 */
function stoppedBySignal(ctx: OpContext, p: Replay, err: unknown): AbortedError | undefined {
  if (!ctx.signal.aborted || err instanceof BaseTooNewError) return undefined;
  return new AbortedError(`restore to ${p.asked} stopped: ${describeError(ctx.signal.reason)}; --data-dir was not written`, { cause: err });
}
