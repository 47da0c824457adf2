import { Transform } from 'node:stream';
import { verifyArtifact } from '../../archive/verify-artifact.js';
import { verifySnapshotArtifact } from '../../archive/verify-snapshot.js';
import type { BackupObserver } from '../../core/backup-observer.js';
import { OperationError } from '../../core/errors.js';
import type { JobContext } from '../../core/jobs.js';
import { KEY_DUMP_CONTENT_TYPE } from '../../archive/key-dump-format.js';
import { exploreEndpoint } from '../../etcd/explore-endpoint.js';
import type { BackupRepository } from '../../store/backup-repository.js';
import { VERSION } from '../../version.js';
import { recordRestore } from '../metrics.js';
import { backupAndPrune, backupRunContext } from '../../commands/backup-job.js';
import type { CommandContext } from '../../commands/context.js';
import { diffBackups } from '../../commands/diff.js';
import { codecKeys } from '../../commands/keys.js';
import { restoreKeyDump } from '../../commands/restore-keys.js';
import { restoreSnapshotKeys } from '../../commands/restore-snapshot-keys.js';
import { withEtcd } from '../../commands/shared.js';
import { statsCommand } from '../../commands/stats.js';
import type { ApiServices, RestoreRequest } from './services.js';

/**
 * The API's work, done by the same functions as the CLI's commands, on the process's repository. Jobs get the
 * command context with the job's own abort signal, so shutdown or a failed client never leaves them running.
 */
export function createApiServices(ctx: CommandContext, repo: BackupRepository, opts: { observer?: BackupObserver } = {}): ApiServices {
  const { config } = ctx;
  const jobCtx = (job: JobContext): CommandContext => ({ ...ctx, signal: job.signal });
  return {
    version: () => ({ version: VERSION, node: process.version }),

    explore: () => withEtcd(config, (etcd) => exploreEndpoint(etcd, config.etcd, config.selection.prefixes)),

    liveStats: (signal) => statsJson({ ...ctx, signal }, []),
    backupStats: (m, signal) => statsJson({ ...ctx, signal }, [m.id]),

    listBackups: async () => (await repo.list()).backups,
    getBackup: (id, use, series) => repo.get(id, use, series),
    openArtifact: (m, signal) => repo.openArtifact(m, signal),
    deleteBackup: async (m) => {
      await repo.delete(m);
      ctx.log.info({ id: m.id, component: 'api' }, 'backup deleted');
    },

    async backup(req, job) {
      const run = backupRunContext(jobCtx(job));
      const manifest = await backupAndPrune(run.ctx, repo, {
        id: run.id,
        ...(req.strategy && { strategy: req.strategy }),
        ...(opts.observer && { observer: opts.observer }),
        onProgress: (p) => job.progress({ bytes: p.bytes, ...(p.totalBytes !== undefined && { totalBytes: p.totalBytes }) }),
      });
      // Progress is sampled once a second: a finished job says how far it went, however short it was.
      job.progress({ bytes: manifest.rawSizeBytes });
      return manifest;
    },

    async verify(m, job) {
      const keys = await codecKeys(config, { forReading: true });
      const stored = await repo.openArtifact(m, job.signal);
      let bytes = 0;
      const counted = stored.pipe(
        new Transform({
          transform(chunk: Buffer, _enc, cb) {
            bytes += chunk.length;
            job.progress({ bytes });
            cb(null, chunk);
          },
        }),
      );
      stored.once('error', (err) => counted.destroy(err));
      const checks =
        m.contentType === 'etcd-snapshot' ? await verifySnapshotArtifact(counted, m, keys, job.signal) : await verifyArtifact(counted, m, keys, job.signal);
      return { id: m.id, ok: checks.every((c) => c.ok), checks };
    },

    async restore(m, req, job) {
      if (m.contentType !== KEY_DUMP_CONTENT_TYPE && m.contentType !== 'etcd-snapshot') {
        throw new OperationError(`backup ${m.id} is a ${m.strategy} listing, which cannot be restored`);
      }
      const c = { ...jobCtx(job), config: { ...config, selection: restoreSelection(config.selection, req) } };
      const dryRun = req.dryRun === true;
      const restoreOpts = { dryRun, skipExisting: req.skipExisting === true, onProgress: (p: { keys: number; bytes: number }) => job.progress(p) };
      try {
        // A snapshot's live keys are replayed as a key dump's are (`reshifter restore <id> --keys`).
        const report =
          m.contentType === 'etcd-snapshot' ? await restoreSnapshotKeys(c, repo, m, restoreOpts) : await restoreKeyDump(c, repo, m, restoreOpts);
        if (!dryRun) recordRestore('success');
        return report;
      } catch (err) {
        if (!dryRun) recordRestore('failure');
        throw err;
      }
    },

    diff: (from, to, diffOpts, signal) => diffBackups({ ...ctx, signal }, repo, from, to, diffOpts),
  };
}

/** The configured selection with the request's filters in place of the ones it names. */
function restoreSelection(base: CommandContext['config']['selection'], req: RestoreRequest): CommandContext['config']['selection'] {
  return {
    ...base,
    ...(req.includeNamespaces && { includeNamespaces: req.includeNamespaces }),
    ...(req.excludeNamespaces && { excludeNamespaces: req.excludeNamespaces }),
    ...(req.includeResources && { includeResources: req.includeResources }),
    ...(req.excludeResources && { excludeResources: req.excludeResources }),
  };
}

/** `stats --json` of the live etcd (no id) or of a backup: the command's documented JSON output, as an object. */
async function statsJson(ctx: CommandContext, positionals: string[]): Promise<unknown> {
  const lines: string[] = [];
  await statsCommand({ ...ctx, args: { positionals, flags: { json: true } }, print: (line) => lines.push(line) });
  return JSON.parse(lines.join('\n')) as unknown;
}
