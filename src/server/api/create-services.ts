import { describeBackup } from '../../core/backup-kind.js';
import type { Manifest } from '../../archive/manifest.js';
import type { BackupObserver } from '../../core/backup-observer.js';
import type { StrategySpec } from '../../core/strategy.js';
import { KEY_DUMP_CONTENT_TYPE, SNAPSHOT_CONTENT_TYPE } from '../../core/content-type.js';
import { OperationError } from '../../core/errors.js';
import { backupJobProgress, type JobContext } from '../../core/jobs.js';
import { backupAndPrune, backupRunContext, checkpointBackupsAndPrune, isCheckpointRun } from '../../ops/backup-run.js';
import { listClusters } from '../../ops/clusters.js';
import type { OpContext } from '../../ops/context.js';
import { deleteBackups } from '../../ops/delete.js';
import { diffBackups } from '../../ops/diff.js';
import { explore } from '../../ops/explore.js';
import { listBackups } from '../../ops/list.js';
import { restoreBackupKeys } from '../../ops/restore-keys.js';
import { backupStats, liveStats, type StatsResult } from '../../ops/stats.js';
import { verifyBackup } from '../../ops/verify.js';
import type { BackupRepository } from '../../store/backup-repository.js';
import { BUILD_COMMIT, VERSION } from '../../version.js';
import { recordRestore } from '../metrics.js';
import { wholeDumpNote } from '../../ops/whole-dump-note.js';
import { latestClusterNote } from '../../ops/cluster-change.js';
import { pointServices } from './point-services.js';
import { restoreSelection } from './restore-selection.js';
import type { ApiServices } from './services.js';

/**
 * The API's work, done by the same operations (src/ops) as the CLI's commands, on the process's repository. Jobs
 * get the context with the job's own abort signal, so shutdown or a failed client never leaves them running.
 */
export function createApiServices(ctx: OpContext, repo: BackupRepository, opts: { observer?: BackupObserver; inUse?: () => readonly string[] } = {}): ApiServices {
  const { config } = ctx;
  const jobCtx = (job: JobContext): OpContext => ({ ...ctx, signal: job.signal });
  return {
    version: () => ({ version: VERSION, ...(BUILD_COMMIT !== undefined && { commit: BUILD_COMMIT }), node: process.version }),
    explore: (signal) => explore(config, signal, ctx.log),
    liveStats: async (signal) => statsBody(await liveStats({ ...ctx, signal })),
    backupStats: async (m, signal) => statsBody(await backupStats({ ...ctx, signal }, repo, m)),
    listBackups: () => listBackups(repo),
    listClusters: () => listClusters(repo.store, { current: config.cluster, log: ctx.log }),
    getBackup: (id, use, series) => repo.get(id, use, series),
    getWholeBackup: (id, use, series) => repo.getWhole(id, use, series),
    openArtifact: (m, signal, range) => repo.openArtifact(m, signal, range),
    deleteBackups: (ids, deleteOpts) => deleteBackups(ctx, repo, ids, deleteOpts),

    async backup(req, job) {
      // One backup per container: the job's result lists their manifests.
      if (isCheckpointRun(ctx, req)) return checkpointJob(jobCtx(job), repo, req, job, opts);
      const run = await backupRunContext(jobCtx(job), repo);
      const manifest = await backupAndPrune(run.ctx, repo, {
        ...run.start,
        ...(req.strategy && { strategy: req.strategy }),
        ...(opts.observer && { observer: opts.observer }),
        ...(opts.inUse && { inUse: opts.inUse }),
        onProgress: (p) => job.progress(backupJobProgress(p)),
      });
      // Progress is sampled once a second: a finished job says how far it went, however short it was (a key dump
      // also how many keys it holds).
      job.progress({ bytes: manifest.rawSizeBytes, ...(manifest.keys !== undefined && { keys: manifest.keys }) });
      return manifest;
    },

    verify: (m, job) => verifyBackup(jobCtx(job), repo, m, { onBytes: (bytes) => job.progress({ bytes }) }),

    async restore(m, req, job) {
      if (m.contentType !== KEY_DUMP_CONTENT_TYPE && m.contentType !== SNAPSHOT_CONTENT_TYPE) throw notRestorable(m);
      const c = { ...jobCtx(job), config: { ...config, selection: restoreSelection(config.selection, req) } };
      const dryRun = req.dryRun === true;
      try {
        // A snapshot's live keys are replayed as a key dump's are (`reshifter restore <id> --keys`).
        const note = req.backupId === 'latest' && req.strategy === undefined ? await wholeDumpNote(repo, m, (w, series) => `restore it with {"backupId": "${w.id}"} (or "strategy": "${series}")`) : undefined;
        if (note !== undefined) c.log.warn({ id: m.id, strategy: m.strategy, note }, m.strategy.startsWith('filter:') ? 'latest is a filter: key dump, not every resource' : "latest is a dump of etcd's v2 keyspace");
        // Of a series holding backups of two etcd clusters (endpoints of another cluster, a restored cluster): which.
        const clusterNote = req.backupId === 'latest' ? await latestClusterNote(repo, m, (o) => `restore it with {"backupId": "${o.id}"}`) : undefined;
        if (clusterNote !== undefined) c.log.warn({ id: m.id, note: clusterNote }, 'latest is a backup of another etcd cluster than older backups of its series');
        const report = await restoreBackupKeys(c, repo, m, { dryRun, skipExisting: req.skipExisting === true, onProgress: (p) => job.progress(p) });
        if (!dryRun) recordRestore('success');
        return { ...report, ...(note !== undefined && { note }), ...(clusterNote !== undefined && { clusterNote }) };
      } catch (err) {
        if (!dryRun) recordRestore('failure');
        throw err;
      }
    },

    diff: (from, to, diffOpts, signal) => diffBackups({ ...ctx, signal }, repo, from, to, diffOpts),
    ...pointServices(ctx, repo, jobCtx),
  };
}

/** A checkpoint backup as an API job: one backup per container, then retention. */
function checkpointJob(ctx: OpContext, repo: BackupRepository, req: { strategy?: StrategySpec }, job: JobContext, opts: { observer?: BackupObserver; inUse?: () => readonly string[] }): Promise<Manifest[]> {
  return checkpointBackupsAndPrune(ctx, repo, {
    ...(req.strategy && { strategy: req.strategy }),
    ...(opts.observer && { observer: opts.observer }),
    ...(opts.inUse && { inUse: opts.inUse }),
    onProgress: (p) => job.progress({ bytes: p.bytes, ...(p.totalBytes !== undefined && { totalBytes: p.totalBytes }) }),
  });
}

/** Why a backup that is neither a key dump nor a snapshot is not restored into etcd, and how it is restored if at all. */
function notRestorable(m: Manifest): OperationError {
  return new OperationError(
    m.checkpoint
      ? `backup ${m.id} is a ${describeBackup(m)}: it is restored as an OCI image with reshifter restore ${m.id} --image-archive FILE`
      : `backup ${m.id} is a ${m.strategy} listing, which cannot be restored`,
  );
}

/** Stats as the API answers them: `stats --json` without the key list. */
function statsBody(r: StatsResult): unknown {
  return { source: r.source, ...r.report };
}
