import type { Manifest } from '../archive/manifest.js';
import type { ClusterChange } from './etcd-cluster-change.js';

/** How a backup ended, for whoever counts them. */
export interface BackupFailure {
  id: string;
  /** The strategy, as far as it was known when the backup failed. */
  strategy: string;
  durationMs: number;
  /** Interrupted by SIGTERM/SIGINT rather than failed. */
  aborted: boolean;
  reason: string;
}

/**
 * Hooks a caller passes into a backup and into retention to learn how they went (metrics, health), so the backup
 * pipeline itself never imports the metrics registry. Every hook is optional and must not throw.
 */
export interface BackupObserver {
  backupSucceeded?(manifest: Manifest): void;
  backupFailed?(failure: BackupFailure): void;
  /** Retention deleted these backups (ids). */
  retentionDeleted?(ids: readonly string[]): void;
  /** Retention after a stored backup failed (the store refused a delete, say): the backup stands, the run failed. */
  retentionFailed?(reason: string): void;
  /** A stored backup is of another etcd cluster than the backup before it in its series. */
  etcdClusterChanged?(change: ClusterChange): void;
  /**
   * After retention of a stored backup's series: how many etcd clusters its kept backups are of (more than 1 while
   * backups of another cluster are kept beside the new one's).
   */
  etcdClustersKept?(count: number): void;
}

/** One observer that tells each of `observers` in turn. */
export function combineObservers(...observers: BackupObserver[]): BackupObserver {
  return {
    backupSucceeded: (m) => observers.forEach((o) => o.backupSucceeded?.(m)),
    backupFailed: (f) => observers.forEach((o) => o.backupFailed?.(f)),
    retentionDeleted: (ids) => observers.forEach((o) => o.retentionDeleted?.(ids)),
    retentionFailed: (reason) => observers.forEach((o) => o.retentionFailed?.(reason)),
    etcdClusterChanged: (c) => observers.forEach((o) => o.etcdClusterChanged?.(c)),
    etcdClustersKept: (n) => observers.forEach((o) => o.etcdClustersKept?.(n)),
  };
}
