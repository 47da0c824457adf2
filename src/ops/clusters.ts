import { IntegrityError } from '../core/errors.js';
import { USES } from '../core/latest.js';
import { mapLimited } from '../core/map-limited.js';
import type { Logger } from '../log.js';
import { BackupRepository, OtherClusterError } from '../store/backup-repository.js';
import type { Store } from '../store/types.js';

/** One cluster of a store shared by a fleet: how many backups it has, and its newest. */
export interface ClusterSummary {
  cluster: string;
  /** Backups with a manifest. */
  backups: number;
  newest?: { id: string; createdAt: string; strategy: string; sizeBytes: number };
  /** Seconds from the newest backup's creation to now. */
  ageSeconds?: number;
  /** The cluster this process is configured for (RS_CLUSTER_NAME). */
  current: boolean;
  /**
   * When no manifest of the folder is its own but they are of one other cluster (a copy of that cluster's folder under
   * another name): that cluster. Such backups are read only in a folder named as it.
   */
  copyOf?: string;
}

/** Clusters read at once: a fleet's store over S3 is a listing and a manifest per cluster. */
const CONCURRENCY = 8;

/**
 * The clusters present in a store: its top-level folders that hold at least one manifest, by name, each with its
 * newest backup and that backup's age. Only the newest manifest of each is read (ids sort by time), so a big fleet
 * costs a listing and a read per cluster.
 */
export async function listClusters(store: Store, opts: { current: string; now?: Date; log?: Logger }): Promise<ClusterSummary[]> {
  const now = opts.now ?? new Date();
  const folders = await store.folders('');
  const out = await mapLimited(folders, CONCURRENCY, (folder) => summarize(new BackupRepository(store, folder), opts.current, now, opts.log));
  return out.filter((c): c is ClusterSummary => c !== undefined);
}

/** A folder's summary, or undefined when it holds no manifest (not a cluster's folder). */
async function summarize(repo: BackupRepository, current: string, now: Date, log: Logger | undefined): Promise<ClusterSummary | undefined> {
  const ids = (await repo.ids()).sort().reverse();
  if (ids.length === 0) return undefined;
  const summary: ClusterSummary = { cluster: repo.cluster, backups: ids.length, current: repo.cluster === current };
  const owners = new Set<string>();
  for (const id of ids) {
    try {
      const m = await repo.get(id, USES.any);
      summary.newest = { id: m.id, createdAt: m.createdAt, strategy: m.strategy, sizeBytes: m.sizeBytes };
      summary.ageSeconds = Math.max(0, Math.round((now.getTime() - Date.parse(m.createdAt)) / 1000));
      break;
    } catch (err) {
      // A damaged manifest is passed over, as `list` does; the next newest stands for the cluster.
      if (!(err instanceof IntegrityError)) throw err;
      owners.add(err instanceof OtherClusterError ? err.owner : '');
      log?.warn({ cluster: repo.cluster, id, err: err.message }, 'unreadable manifest skipped');
    }
  }
  const [owner] = owners;
  if (summary.newest === undefined && owners.size === 1 && owner) summary.copyOf = owner;
  return summary;
}
