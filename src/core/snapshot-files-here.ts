/**
 * Names of etcd snapshot files as k3s and etcdctl users keep them: k3s's `<name>-<node>-<unix time>` (`on-demand-`,
 * `etcd-snapshot-`; `.zip` with --etcd-snapshot-compress) and `*.db` files, plain or compressed.
 */
const SNAPSHOT_FILE = /(?:^.+-\d{10}(?:\.zip)?$|\.db(?:\.(?:gz|zst|zip|age))?$)/;

/**
 * When a store's folder holds no reshifter backups but snapshot files (RS_BACKUP_DIR given as k3s's snapshot folder,
 * /var/lib/rancher/k3s/server/db/snapshots): what they are and how reshifter reads them. `location` is the store as
 * messages name it, `localPath` the folder on this machine (undefined for S3). Undefined when no name looks like one.
 */
export function snapshotFilesHere(location: string, names: readonly string[], localPath: string | undefined): string | undefined {
  const files = names.filter((n) => !n.includes('/') && SNAPSHOT_FILE.test(n)).sort().reverse();
  if (files.length === 0) return undefined;
  const shown = files.length > 3 ? `${files.slice(0, 3).join(', ')} and ${files.length - 3} more` : files.join(', ');
  const example = localPath !== undefined ? `"reshifter verify ${localPath.replace(/\/$/, '')}/${files[0]}"` : 'after copying one to this machine';
  return (
    `${location} holds etcd snapshot files (${shown}), not reshifter backups: inspect, verify, stats, diff, restore --keys ` +
    `and restore --snapshot-file OUT take such a file by its path (${example}); RS_BACKUP_DIR (or --backup-dir) and RS_S3_BUCKET name where reshifter's own backups are`
  );
}

/** The Go Reshifter's backups: `<unix seconds>.zip`, in /tmp/reshifter and at the root of its bucket. */
const GO_BACKUP_FILE = /^(\d{10})\.zip$/;

/**
 * When a store's folder holds no reshifter backups but backups of the Go Reshifter (its `/tmp/reshifter`, or the root
 * of its bucket): their ids, newest first, and what reads them. Undefined when no name is one.
 */
export function goBackupsHere(location: string, names: readonly string[]): string | undefined {
  const ids = names.map((n) => GO_BACKUP_FILE.exec(n)?.[1]).filter((id): id is string => id !== undefined).sort().reverse();
  if (ids.length === 0) return undefined;
  const shown = ids.length > 3 ? `${ids.slice(0, 3).join(', ')} and ${ids.length - 3} more` : ids.join(', ');
  return (
    `${location} holds ${ids.length === 1 ? 'a backup' : `${ids.length} backups`} of the Go Reshifter (<id>.zip: ${shown}), not reshifter backups: ` +
    `"reshifter restore ${ids[0]}" restores one into the etcd at RS_ETCD_ENDPOINTS (--dry-run first), "reshifter stats ${ids[0]}" counts its keys`
  );
}
