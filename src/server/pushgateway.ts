import { Pushgateway } from 'prom-client';
import { describeError } from '../core/errors.js';
import type { Config } from '../config/types.js';
import { formatStrategy } from '../core/strategy.js';
import type { Logger } from '../log.js';
import type { Metrics } from './metrics.js';

/** The job label one-off commands push under; the cluster and the strategy setting are the grouping key. */
export const PUSH_JOB = 'reshifter';

/**
 * The group one CronJob pushes into: its cluster, and RS_BACKUP_STRATEGY as set (`auto` when unset), the one
 * setting that tells apart the jobs of one cluster (a nightly snapshot, an hourly filter:secrets). In one group
 * per cluster each run replaced the other's timestamps, and a failing snapshot job was hidden by a working filter
 * job. A label of its own (`backup_strategy`), not `strategy`: that one is the strategy a backup took, which with
 * `auto` is known only once etcd answered.
 */
export interface PushGroup {
  cluster: string;
  backupStrategy: string;
}

export function pushGroupOf(config: Pick<Config, 'cluster' | 'strategy'>): PushGroup {
  return { cluster: config.cluster, backupStrategy: config.strategy === undefined ? 'auto' : formatStrategy(config.strategy) };
}

/**
 * Pushes the metrics of a one-off command to a Prometheus Pushgateway
 * (`POST /metrics/job/reshifter/cluster/<name>/backup_strategy/<setting>`), replacing the metrics of the same names
 * from the previous run of the same group. Metrics this run did not record are left out (a
 * restore does not erase the backup counts; a failed run does not erase when the last success was, nor, with
 * `retentionRan` false, the retention counts of the last run that applied it). Never throws: a
 * gateway that is down is logged, and the command's own outcome stands.
 */
export async function pushMetrics(
  url: string,
  metrics: Metrics,
  grouping: PushGroup,
  log: Logger,
  opts: { timeoutMs?: number; retentionRan?: boolean } = {},
): Promise<boolean> {
  const { timeoutMs = 10_000, retentionRan = true } = opts;
  // Only what this run recorded. A run whose backup failed applied no retention: its counts of 0 would replace
  // those of the last run that did, and an alert on a retention that keeps failing would resolve for a failed backup.
  const timestamps = new Set([(await metrics.lastSuccess.get()).name, (await metrics.lastFailure.get()).name]);
  const retention = new Set([(await metrics.retentionDeleted.get()).name, (await metrics.retentionFailures.get()).name]);
  for (const { name, values } of await metrics.registry.getMetricsAsJSON()) {
    const notRecorded = values.length === 0 || (timestamps.has(name) && !values.some((v) => v.value > 0)) || (!retentionRan && retention.has(name));
    if (notRecorded) metrics.registry.removeSingleMetric(name);
  }
  const target = withoutCredentials(url);
  try {
    const gateway = new Pushgateway(url, { timeout: timeoutMs }, metrics.registry);
    await gateway.pushAdd({ jobName: PUSH_JOB, groupings: { cluster: grouping.cluster, backup_strategy: grouping.backupStrategy } });
    log.info({ url: target, cluster: grouping.cluster, backupStrategy: grouping.backupStrategy }, 'metrics pushed');
    await deleteOldGroup(gateway, grouping.cluster, log);
    return true;
  } catch (err) {
    log.warn({ url: target, err: describeError(err) }, 'metrics push failed');
    return false;
  }
}

/**
 * Earlier releases (one group per cluster) pushed into `/job/reshifter/cluster/<name>`, which nothing updates after
 * an upgrade: its last success would grow old and page ReshifterBackupMissing. Every push deletes it (that exact
 * group alone; a job still on an older reshifter pushes it again, and it is gone again at the next push of a newer
 * one). A failure to delete it is logged, not the command's.
 */
async function deleteOldGroup(gateway: { delete(p: { jobName: string; groupings: Record<string, string> }): Promise<unknown> }, cluster: string, log: Logger): Promise<void> {
  try {
    await gateway.delete({ jobName: PUSH_JOB, groupings: { cluster } });
  } catch (err) {
    log.warn({ err: describeError(err), cluster }, "could not delete the Pushgateway group of this cluster that reshifter used before it grouped by strategy: delete it by hand (the README's Observability says how)");
  }
}

function withoutCredentials(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return '(unparsable)';
  }
}
