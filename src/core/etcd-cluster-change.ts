import type { Manifest } from '../archive/manifest.js';
import { chainBaseOf, seriesOf } from './series.js';

/** The manifest fields a backup's etcd cluster and series are read from. */
export type ClusterBackup = Pick<Manifest, 'id' | 'strategy' | 'etcd' | 'checkpoint'> & { base?: string | undefined };

/** A backup of another etcd cluster than the backup before it in its series that records one. */
export interface ClusterChange {
  id: string;
  clusterId: string;
  /** The backup before it in its series, and that one's cluster ('': not recorded, its members differ). */
  previousId: string;
  previousClusterId: string;
}

/** The id of the etcd cluster `m` was taken from, when its manifest records it (v3 backups since it is). */
export function clusterIdOf(m: Pick<Manifest, 'etcd'>): string | undefined {
  return m.etcd?.clusterId;
}

/** The backups of each series (full backups only: a delta segment belongs to its base), oldest first. */
function bySeries<T extends ClusterBackup>(backups: readonly T[]): T[][] {
  const groups = new Map<string, T[]>();
  for (const m of [...backups].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
    if (chainBaseOf(m) !== undefined) continue;
    const key = seriesOf(m);
    const group = groups.get(key);
    if (group) group.push(m);
    else groups.set(key, [m]);
  }
  return [...groups.values()];
}

/**
 * Each backup of another etcd cluster than the one before it in its series (of those that record a cluster), by id:
 * endpoints that named another cluster's members by mistake, or a cluster restored after a disaster (a new cluster id).
 */
export function clusterChanges(backups: readonly ClusterBackup[]): Map<string, ClusterChange> {
  const out = new Map<string, ClusterChange>();
  for (const series of bySeries(backups)) {
    let previous: ClusterBackup | undefined;
    for (const m of series) {
      const id = clusterIdOf(m);
      if (id === undefined) continue;
      const was = previous && clusterIdOf(previous)!;
      if (previous && was !== id) out.set(m.id, { id: m.id, clusterId: id, previousId: previous.id, previousClusterId: was! });
      previous = m;
    }
  }
  return out;
}

/**
 * The etcd cluster retention counts each backup with (by id; '' when none is known): its own, or for a backup whose
 * manifest is older than the field, that of the next backup of its series that records one (else the one before it),
 * so that the backups taken before an upgrade stay counted with those after it; but only when the members both record
 * are the same (names and peer URLs): backups of an older version followed by one of another cluster (endpoints named
 * by mistake) are counted on their own, never pushed out by that cluster's. Retention keeps each cluster's backups by
 * the rules on their own: those of a cluster the endpoints named by mistake never push the intended cluster's out, and
 * those of a cluster that a restore replaced are not lost to the new one's.
 */
export function retentionClusters(backups: readonly ClusterBackup[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const series of bySeries(backups)) {
    // The next backup that records a cluster after each one (oldest first: a pass from the newest).
    const newer: Array<ClusterBackup | undefined> = [];
    for (let i = series.length - 1, next: ClusterBackup | undefined; i >= 0; i--) {
      newer[i] = next;
      if (clusterIdOf(series[i]!) !== undefined) next = series[i];
    }
    let older: ClusterBackup | undefined;
    series.forEach((m, i) => {
      const own = clusterIdOf(m);
      if (own !== undefined) {
        older = m;
        return out.set(m.id, own);
      }
      const fits = [newer[i], older].find((r) => r !== undefined && sameMembers(m, r));
      return out.set(m.id, fits === undefined ? '' : clusterIdOf(fits)!);
    });
  }
  return out;
}

/**
 * How many etcd clusters the backups of `series` are of, as retention counts them (those that record none, of members
 * unlike any that do, count as one more).
 */
export function clustersOfSeries(backups: readonly ClusterBackup[], series: string): number {
  const clusters = retentionClusters(backups);
  return new Set(backups.filter((m) => chainBaseOf(m) === undefined && seriesOf(m) === series).map((m) => clusters.get(m.id) ?? '')).size;
}

/** True when `m` records no members (it cannot tell) or the same members as `r` (names and peer URLs). */
export function sameMembers(m: ClusterBackup, r: ClusterBackup): boolean {
  const key = (x: ClusterBackup) =>
    (x.etcd?.members ?? [])
      .map((s) => `${s.name}|${[...s.peerURLs].sort().join(',')}`)
      .sort()
      .join(';');
  return m.etcd?.members === undefined || key(m) === key(r);
}

/** A backup's cluster as a warning names it: `cluster 123 (members m1 [id 9], m2 [id 8])`. */
export function clusterText(m: Pick<Manifest, 'etcd'>): string {
  const members = m.etcd?.members;
  const named = members === undefined ? 'its members not recorded' : `members ${members.map((s) => `${s.name || '(unstarted)'}${s.id !== undefined ? ` [id ${s.id}]` : ''}`).join(', ')}`;
  return `etcd cluster ${clusterIdOf(m) ?? '(not recorded)'} (${named})`;
}

/**
 * What is said of a backup of another cluster than `previous`, the backup before it in its series: both clusters,
 * the two causes and what to do about each (`endpointsVar`: the variable the endpoints were given in, as set), and
 * that retention keeps the older cluster's backups.
 */
export function clusterChangeWarning(m: ClusterBackup, previous: ClusterBackup, endpointsVar = 'RS_ETCD_ENDPOINTS'): string {
  return (
    `backup ${m.id} is of ${clusterText(m)}, but the backup before it in series "${seriesOf(m)}", ${previous.id}, is of ${clusterText(previous)}: ` +
    `if ${endpointsVar} names another cluster's members by mistake, correct it and delete ${m.id}; if the cluster was restored ` +
    `(a restore makes a new cluster id), its backups start anew here. Retention counts each cluster's backups on their own: ` +
    `${clusterIdOf(previous) !== undefined ? `those of cluster ${clusterIdOf(previous)!}` : 'the backups before it, of other members,'} are not deleted because of these (delete them when they are no longer needed)`
  );
}
