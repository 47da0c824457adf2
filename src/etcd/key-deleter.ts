import type { Config } from '../config/types.js';
import { buildSelection, selectKey } from '../core/key-selection.js';
import { DEFAULT_PREFIXES, parseKey } from '../kube/index.js';
import { layoutPrefixes } from '../kube/resource-label.js';
import type { Logger } from '../log.js';
import { toEtcdError } from './errors.js';
import { withEtcd } from './with-etcd.js';

/** What deleting the keys a restore's recorded changes deleted did (or, dry run, would do). */
export interface DeleteReport {
  /** Keys the changes deleted by the target. */
  keys: number;
  /** Of those, held by the etcd and deleted (dry run: that would be). */
  deleted: number;
  /** Not in the etcd: nothing to do. */
  absent: number;
  /** Left alone by RS_INCLUDE_/EXCLUDE_* filters or a filter strategy. */
  filtered: number;
}

/** Keys per transaction: etcd's default --max-txn-ops. */
const PER_TXN = 128;

/**
 * Deletes keys from the etcd at RS_ETCD_ENDPOINTS, in transactions, under the restore's filters; a dry run counts
 * those it holds and deletes nothing. `prefixes` are the base's, which name the key layout the filters read.
 */
export async function deleteKeys(config: Config, keys: readonly Buffer[], opts: { dryRun: boolean; prefixes: readonly string[]; log: Logger; signal: AbortSignal }): Promise<DeleteReport> {
  const strategy = config.strategy;
  const selection = buildSelection(config.selection, strategy?.kind === 'filter' ? strategy.resources : undefined);
  const layout = layoutPrefixes(opts.prefixes, DEFAULT_PREFIXES);
  const chosen = keys.filter((k) => selectKey(parseKey(k, layout), selection));
  const report: DeleteReport = { keys: keys.length, deleted: 0, absent: 0, filtered: keys.length - chosen.length };
  if (chosen.length === 0) return report;
  await withEtcd(config, opts, async (etcd) => {
    for (let i = 0; i < chosen.length; i += PER_TXN) {
      const batch = chosen.slice(i, i + PER_TXN);
      try {
        if (opts.dryRun) {
          const res = await etcd.kv.txn({ success: batch.map((key) => ({ request_range: { key, count_only: true } })) });
          report.deleted += res.responses.reduce((n, r) => n + Number(r.response_range?.count ?? 0), 0);
        } else {
          const res = await etcd.kv.txn({ success: batch.map((key) => ({ request_delete_range: { key } })) });
          report.deleted += res.responses.reduce((n, r) => n + Number(r.response_delete_range?.deleted ?? 0), 0);
        }
      } catch (err) {
        throw toEtcdError(err, `deleting the keys the recorded changes deleted (${report.deleted} deleted so far)`, config.etcd);
      }
    }
  });
  report.absent = chosen.length - report.deleted;
  opts.log.info({ ...report, dryRun: opts.dryRun }, opts.dryRun ? 'deletes planned' : 'keys deleted');
  return report;
}
