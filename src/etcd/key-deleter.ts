import type { Etcd3 } from 'etcd3';
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
 * those it holds and deletes nothing. `prefixes` are the base's, which name the key layout the filters read. The keys
 * are taken as they come, a transaction's worth at a time, never all held at once; none chosen, etcd is not called.
 */
export async function deleteKeys(
  config: Config,
  keys: Iterable<Buffer> | AsyncIterable<Buffer>,
  opts: { dryRun: boolean; prefixes: readonly string[]; log: Logger; signal: AbortSignal },
): Promise<DeleteReport> {
  const strategy = config.strategy;
  const selection = buildSelection(config.selection, strategy?.kind === 'filter' ? strategy.resources : undefined);
  const layout = layoutPrefixes(opts.prefixes, DEFAULT_PREFIXES);
  const report: DeleteReport = { keys: 0, deleted: 0, absent: 0, filtered: 0 };
  let chosen = 0;
  async function* selected(): AsyncGenerator<Buffer> {
    for await (const key of keys) {
      report.keys++;
      if (!selectKey(parseKey(key, layout), selection)) report.filtered++;
      else yield key;
    }
  }
  const walk = selected();
  const first = await walk.next();
  if (first.done) return report;
  await withEtcd(config, opts, async (etcd) => {
    let batch: Buffer[] = [first.value];
    for (;;) {
      const r = await walk.next();
      if (!r.done) batch.push(r.value);
      if (batch.length === PER_TXN || (r.done && batch.length > 0)) {
        chosen += batch.length;
        try {
          report.deleted += await deleteBatch(etcd, batch, opts.dryRun);
        } catch (err) {
          throw toEtcdError(err, `deleting the keys the recorded changes deleted (${report.deleted} deleted so far)`, config.etcd);
        }
        batch = [];
      }
      if (r.done) break;
    }
  });
  report.absent = chosen - report.deleted;
  opts.log.info({ ...report, dryRun: opts.dryRun }, opts.dryRun ? 'deletes planned' : 'keys deleted');
  return report;
}

/** One transaction: the keys deleted (dry run: counted), and how many of them etcd held. */
async function deleteBatch(etcd: Etcd3, batch: readonly Buffer[], dryRun: boolean): Promise<number> {
  if (dryRun) {
    const res = await etcd.kv.txn({ success: batch.map((key) => ({ request_range: { key, count_only: true } })) });
    return res.responses.reduce((n, r) => n + Number(r.response_range?.count ?? 0), 0);
  }
  const res = await etcd.kv.txn({ success: batch.map((key) => ({ request_delete_range: { key } })) });
  return res.responses.reduce((n, r) => n + Number(r.response_delete_range?.deleted ?? 0), 0);
}
