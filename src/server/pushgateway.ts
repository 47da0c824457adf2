import { Pushgateway } from 'prom-client';
import { describeError } from '../core/errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from './metrics.js';

/** The job label one-off commands push under; the cluster name is the grouping key that keeps clusters apart. */
export const PUSH_JOB = 'reshifter';

/**
 * Pushes the metrics of a one-off command to a Prometheus Pushgateway (`POST /metrics/job/reshifter/cluster/<name>`),
 * replacing the metrics of the same names from the previous run. Metrics this run did not record are left out (a
 * restore does not erase the backup counts; a failed run does not erase when the last success was, nor, with
 * `retentionRan` false, the retention counts of the last run that applied it). Never throws: a
 * gateway that is down is logged, and the command's own outcome stands.
 */
export async function pushMetrics(
  url: string,
  metrics: Metrics,
  grouping: { cluster: string },
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
    await gateway.pushAdd({ jobName: PUSH_JOB, groupings: { cluster: grouping.cluster } });
    log.info({ url: target, cluster: grouping.cluster }, 'metrics pushed');
    return true;
  } catch (err) {
    log.warn({ url: target, err: describeError(err) }, 'metrics push failed');
    return false;
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
