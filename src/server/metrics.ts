import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BackupObserver } from '../core/backup-observer.js';
import { BUILD_COMMIT, VERSION } from '../version.js';

export type RestoreOutcome = 'success' | 'failure';

/** reshifter's Prometheus metrics, in their own registry (never prom-client's global one). */
export interface Metrics {
  registry: Registry;
  backupTotal: Counter<'strategy' | 'outcome'>;
  backupDuration: Histogram<'strategy' | 'outcome'>;
  backupSize: Gauge<'strategy'>;
  backupRawSize: Gauge<'strategy'>;
  backupKeys: Gauge<'strategy'>;
  lastSuccess: Gauge;
  lastFailure: Gauge;
  retentionDeleted: Counter;
  retentionFailures: Counter;
  restoreTotal: Counter<'outcome'>;
  /** Backups of another etcd cluster than the backup before them in their series. */
  clusterChanges: Counter;
  /** etcd clusters among the kept backups of the last backup's series (a gauge: a Pushgateway keeps it). */
  clustersKept: Gauge;
  /** Hooks for createBackup and retention that record into these metrics. */
  observer: BackupObserver;
}

/** Backup durations span seconds (small clusters) to an hour (many GB to a slow bucket). */
const DURATION_BUCKETS = [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

/** Creates the metrics in a fresh registry. */
export function createMetrics(): Metrics {
  const registry = new Registry();
  const registers = [registry];
  new Gauge({
    name: 'reshifter_build_info',
    help: 'Always 1; the labels say which reshifter (its version, and the git commit of its build: empty when the build did not know it) and Node.js this is.',
    labelNames: ['version', 'commit', 'node'],
    registers,
  }).set({ version: VERSION, commit: BUILD_COMMIT ?? '', node: process.version }, 1);
  const m = { registry, ...declareMetrics(registers) };
  return { ...m, observer: observerInto(m) };
}

/** The backup, retention and restore metrics, registered in `registers`. */
function declareMetrics(registers: Registry[]): Omit<Metrics, 'observer' | 'registry'> {
  return {
    backupTotal: new Counter({
      name: 'reshifter_backup_total',
      help: 'Backups attempted, by strategy and outcome (success, failure, aborted).',
      labelNames: ['strategy', 'outcome'],
      registers,
    }),
    backupDuration: new Histogram({
      name: 'reshifter_backup_duration_seconds',
      help: 'How long backups took, from start to manifest written (or failure).',
      labelNames: ['strategy', 'outcome'],
      buckets: DURATION_BUCKETS,
      registers,
    }),
    backupSize: new Gauge({
      name: 'reshifter_backup_size_bytes',
      help: 'Stored size of the last successful backup (after compression and encryption).',
      labelNames: ['strategy'],
      registers,
    }),
    backupRawSize: new Gauge({
      name: 'reshifter_backup_raw_size_bytes',
      help: 'Size of the last successful backup before compression and encryption.',
      labelNames: ['strategy'],
      registers,
    }),
    backupKeys: new Gauge({
      name: 'reshifter_backup_keys',
      help: 'Keys in the last successful key dump (raw, render, filter strategies).',
      labelNames: ['strategy'],
      registers,
    }),
    lastSuccess: new Gauge({
      name: 'reshifter_backup_last_success_timestamp_seconds',
      help: 'Unix time the last successful backup was created; alert on time() minus this.',
      registers,
    }),
    lastFailure: new Gauge({
      name: 'reshifter_backup_last_failure_timestamp_seconds',
      help: 'Unix time of the last failed backup, or of the store refusing run at start (every backup would fail alike).',
      registers,
    }),
    ...declareRetentionAndRestoreMetrics(registers),
  };
}

/** The retention and restore metrics, registered in `registers`. */
function declareRetentionAndRestoreMetrics(registers: Registry[]): Pick<Metrics, 'retentionDeleted' | 'retentionFailures' | 'restoreTotal' | 'clusterChanges' | 'clustersKept'> {
  return {
    clustersKept: new Gauge({
      name: 'reshifter_backup_etcd_clusters',
      help: "etcd clusters the kept backups of the last backup's series are of, after its retention: more than 1 while another cluster's backups are kept beside it (endpoints of another cluster, or the cluster before a restore).",
      registers,
    }),
    clusterChanges: new Counter({
      name: 'reshifter_backup_etcd_cluster_changes_total',
      help: 'Backups of another etcd cluster than the backup before them in their series (endpoints of another cluster, or a restored cluster).',
      registers,
    }),
    retentionDeleted: new Counter({
      name: 'reshifter_retention_deleted_total',
      help: 'Backups deleted by the retention rules.',
      registers,
    }),
    retentionFailures: new Counter({
      name: 'reshifter_retention_failures_total',
      help: 'Retention runs that failed after a stored backup (old backups were not all deleted).',
      registers,
    }),
    restoreTotal: new Counter({
      name: 'reshifter_restore_total',
      help: 'Restores attempted, by outcome (success, failure).',
      labelNames: ['outcome'],
      registers,
    }),
  };
}

/** Hooks that record how backups and retention went into `m`. */
function observerInto(m: Omit<Metrics, 'observer'>): BackupObserver {
  return {
    backupSucceeded(manifest) {
      const strategy = manifest.strategy;
      m.backupTotal.inc({ strategy, outcome: 'success' });
      if (manifest.durationMs !== undefined) m.backupDuration.observe({ strategy, outcome: 'success' }, manifest.durationMs / 1000);
      m.backupSize.set({ strategy }, manifest.sizeBytes);
      m.backupRawSize.set({ strategy }, manifest.rawSizeBytes);
      if (manifest.keys !== undefined) m.backupKeys.set({ strategy }, manifest.keys);
      m.lastSuccess.set(Date.parse(manifest.createdAt) / 1000);
    },
    backupFailed(f) {
      const outcome = f.aborted ? 'aborted' : 'failure';
      m.backupTotal.inc({ strategy: f.strategy, outcome });
      m.backupDuration.observe({ strategy: f.strategy, outcome }, f.durationMs / 1000);
      m.lastFailure.set(Date.now() / 1000);
    },
    retentionDeleted(ids) {
      m.retentionDeleted.inc(ids.length);
    },
    retentionFailed() {
      m.retentionFailures.inc();
    },
    etcdClusterChanged() {
      m.clusterChanges.inc();
    },
    etcdClustersKept(count) {
      m.clustersKept.set(count);
    },
  };
}

const withProcessMetrics = new WeakSet<Registry>();

/** Adds Node's process_* and nodejs_* metrics (memory, CPU, event loop lag) to a long-running process's registry. */
export function addProcessMetrics(metrics: Metrics): void {
  if (withProcessMetrics.has(metrics.registry)) return;
  withProcessMetrics.add(metrics.registry);
  collectDefaultMetrics({ register: metrics.registry });
}

let shared: Metrics | undefined;

/** The process's metrics, created on first use: what `run` serves on /metrics and one-off commands push. */
export function processMetrics(): Metrics {
  shared ??= createMetrics();
  return shared;
}

/**
 * Counts one restore in `reshifter_restore_total{outcome}`; the restore command calls this once per restore
 * (then `pushMetrics` from ./pushgateway.js when it runs one-off).
 */
export function recordRestore(outcome: RestoreOutcome, metrics: Metrics = processMetrics()): void {
  metrics.restoreTotal.inc({ outcome });
}
