import { parseTarget } from '../../core/delta-chain.js';
import type { JobContext } from '../../core/jobs.js';
import { USES } from '../../core/latest.js';
import type { OpContext } from '../../ops/context.js';
import { listChainViews } from '../../ops/delta-chains.js';
import { filterBaseNote, refuseStranded, resolvePoint } from '../../ops/restore-point.js';
import { restorePointKeys } from '../../ops/restore-point-keys.js';
import type { BackupRepository } from '../../store/backup-repository.js';
import { recordRestore } from '../metrics.js';
import { restoreSelection } from './restore-selection.js';
import type { ApiServices } from './services.js';

/** How a request asks for a whole backup's chain instead of a filter: dump's (see filterBaseNote). */
const API_ASKS = { snapshot: 'set "strategy": "snapshot"', raw: 'set "strategy": "raw"' };

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
      const note = req.backupId === 'latest' && req.strategy === undefined ? await filterBaseNote(repo, parseTarget(req.to), r, API_ASKS) : undefined;
      if (note !== undefined) c.log.warn({ id: r.chain.base.id, note }, 'latest is a filter: key dump, not every resource');
      try {
        const report = await restorePointKeys(c, repo, r, req.to, { dryRun, skipExisting: req.skipExisting === true, onProgress: (p) => job.progress(p) });
        if (!dryRun) recordRestore('success');
        return { ...report, ...(note !== undefined && { note }) };
      } catch (err) {
        if (!dryRun) recordRestore('failure');
        throw err;
      }
    },
  };
}
