import { parseTarget } from '../../core/delta-chain.js';
import type { JobContext } from '../../core/jobs.js';
import { USES } from '../../core/latest.js';
import type { OpContext } from '../../ops/context.js';
import { listChainViews } from '../../ops/delta-chains.js';
import { refuseStranded, resolvePoint } from '../../ops/restore-point.js';
import { restorePointKeys } from '../../ops/restore-point-keys.js';
import type { BackupRepository } from '../../store/backup-repository.js';
import { recordRestore } from '../metrics.js';
import { restoreSelection } from './restore-selection.js';
import type { ApiServices } from './services.js';

/** The API's continuous-backup services: the chains, and restores of keys to a point (the CLI's `restore --to`). */
export function pointServices(ctx: OpContext, repo: BackupRepository, jobCtx: (job: JobContext) => OpContext): Pick<ApiServices, 'listChains' | 'resolvePoint' | 'restorePoint'> {
  const { config } = ctx;
  return {
    listChains: () => listChainViews(repo),
    async resolvePoint(req, series) {
      const [best] = await resolvePoint(repo, req.backupId, parseTarget(req.to), { use: USES.restoreKeys, ...(series !== undefined && { series }) });
      if (req.backupId === 'latest' && req.to === 'latest' && series === undefined) await refuseStranded(repo, best!);
      return best!;
    },
    async restorePoint(r, req, job) {
      const c = { ...jobCtx(job), config: { ...config, selection: restoreSelection(config.selection, req) } };
      const dryRun = req.dryRun === true;
      try {
        const report = await restorePointKeys(c, repo, r, req.to, { dryRun, skipExisting: req.skipExisting === true, onProgress: (p) => job.progress(p) });
        if (!dryRun) recordRestore('success');
        return report;
      } catch (err) {
        if (!dryRun) recordRestore('failure');
        throw err;
      }
    },
  };
}
