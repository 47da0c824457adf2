import type { Manifest } from '../archive/manifest.js';
import type { BackupObserver } from '../core/backup-observer.js';
import { IntegrityError, describeError } from '../core/errors.js';
import { clusterChangeWarning, clusterIdOf, clusterText, sameMembers } from '../core/etcd-cluster-change.js';
import { USES } from '../core/latest.js';
import { chainBaseOf, seriesOf } from '../core/series.js';
import type { Logger } from '../log.js';
import type { BackupRepository } from '../store/backup-repository.js';

/** Manifests read at most to find the backup before one in its series (another series' backups lie between). */
const MAX_READS = 64;

/**
 * The newest backup of `m`'s series before it that records its etcd cluster (or, written before the cluster id was,
 * its members), as far as MAX_READS manifests go.
 */
export async function previousOfCluster(repo: BackupRepository, m: Manifest): Promise<Manifest | undefined> {
  const series = seriesOf(m);
  const ids = (await repo.ids()).filter((id) => id < m.id).sort().reverse().slice(0, MAX_READS);
  for (const id of ids) {
    let other: Manifest;
    try {
      other = await repo.get(id, USES.any);
    } catch (err) {
      if (err instanceof IntegrityError) continue;
      throw err;
    }
    const recorded = clusterIdOf(other) !== undefined || other.etcd?.members !== undefined;
    if (chainBaseOf(other) === undefined && seriesOf(other) === series && recorded) return other;
  }
  return undefined;
}

/**
 * After a backup is stored: when it is of another etcd cluster than the backup before it in its series, says so with
 * both clusters and their members (a warning naming `endpointsVar`, the variable the endpoints were given in, and the
 * observer's metric). Never fails the backup: a store that cannot
 * be read for it leaves a debug line.
 */
export async function warnOfClusterChange(repo: BackupRepository, m: Manifest, log: Logger, observer?: BackupObserver, endpointsVar?: string): Promise<void> {
  const clusterId = clusterIdOf(m);
  if (clusterId === undefined) return;
  let previous: Manifest | undefined;
  try {
    previous = await previousOfCluster(repo, m);
  } catch (err) {
    log.debug({ err: describeError(err) }, 'could not read the backup before this one to compare etcd clusters');
    return;
  }
  if (previous === undefined) return;
  // A backup written before the cluster id was (the first after an upgrade) is compared by its members.
  const was = clusterIdOf(previous);
  if (was === undefined ? sameMembers(previous, m) : was === clusterId) return;
  const change = { id: m.id, clusterId, previousId: previous.id, previousClusterId: was ?? '' };
  log.warn({ ...change, series: seriesOf(m) }, clusterChangeWarning(m, previous, endpointsVar));
  observer?.etcdClusterChanged?.(change);
}

/**
 * For a restore of `latest`: when the store holds backups of `m`'s series of another etcd cluster than `m`'s (the
 * endpoints named another cluster's members, or the cluster was restored and its backups started anew), which cluster
 * it restores, and how to restore the newest backup of the other (`ask`: the command for it).
 */
export async function latestClusterNote(repo: BackupRepository, m: Manifest, ask: (other: Manifest) => string): Promise<string | undefined> {
  const clusterId = clusterIdOf(m);
  if (clusterId === undefined) return undefined;
  const series = seriesOf(m);
  const { backups } = await repo.list().catch(() => ({ backups: [] as Manifest[] }));
  const other = backups
    .filter((o) => o.id < m.id && chainBaseOf(o) === undefined && seriesOf(o) === series && clusterIdOf(o) !== undefined && clusterIdOf(o) !== clusterId)
    .sort((x, y) => (x.id < y.id ? 1 : -1))[0];
  if (other === undefined) return undefined;
  return (
    `"latest" is backup ${m.id}, of ${clusterText(m)}; series "${series}" holds backups of another cluster too, the newest ${other.id} ` +
    `(taken ${other.createdAt}) of ${clusterText(other)}: this restores cluster ${clusterId}; to restore cluster ${clusterIdOf(other)!}, ${ask(other)}`
  );
}
