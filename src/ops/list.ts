import type { Manifest } from '../archive/manifest.js';
import { clusterChanges } from '../core/etcd-cluster-change.js';
import { inSeries } from '../core/series.js';
import type { Logger } from '../log.js';
import type { BackupRepository, UnusableBackup } from '../store/backup-repository.js';

export interface ListOptions {
  /** Only the backups of this series (`--strategy`, `?strategy=`). */
  series?: string;
  /** Told of each manifest that cannot be read (it is left out). */
  log?: Logger;
  /** Each manifest that cannot be read, with why (the backup it describes is left out). */
  unreadable?: (bad: { key: string; error: string; cluster?: string }) => void;
  /** Each listed backup whose artifact the store does not hold, or holds at another size (it restores nothing). */
  unusable?: (u: UnusableBackup) => void;
}

/**
 * A listed backup: its manifest, and `unusable` when the store does not hold its artifact whole (`artifact-missing`,
 * `artifact-size`, retention's words for it): it restores nothing, and a script picking `.[0].id` can tell.
 * `etcdClusterChange` when it is of another etcd cluster than the backup before it in its series (the endpoints named
 * another cluster's members, or the cluster was restored): that backup and its cluster.
 */
export type ListedBackup = Manifest & {
  unusable?: 'artifact-missing' | 'artifact-size';
  etcdClusterChange?: { previousId: string; previousClusterId: string };
};

/** The cluster's backups (their manifests), newest first. */
export async function listBackups(repo: BackupRepository, opts: ListOptions = {}): Promise<ListedBackup[]> {
  const { backups, invalid, unusable } = await repo.list();
  for (const bad of invalid) {
    opts.log?.warn({ key: bad.key, error: bad.error }, 'unreadable manifest skipped');
    opts.unreadable?.(bad);
  }
  const listed = opts.series === undefined ? backups : backups.filter((m) => inSeries(m, opts.series!));
  const ids = new Set(listed.map((m) => m.id));
  const broken = new Map(unusable.filter((u) => ids.has(u.id)).map((u) => [u.id, u]));
  for (const u of broken.values()) opts.unusable?.(u);
  const changes = clusterChanges(backups);
  return listed.map((m) => {
    const u = broken.get(m.id);
    const c = changes.get(m.id);
    return {
      ...m,
      ...(u !== undefined && { unusable: u.storedBytes === undefined ? 'artifact-missing' : 'artifact-size' }),
      ...(c !== undefined && { etcdClusterChange: { previousId: c.previousId, previousClusterId: c.previousClusterId } }),
    };
  });
}
