import type { Manifest } from '../archive/manifest.js';
import { inSeries } from '../core/series.js';
import type { Logger } from '../log.js';
import type { BackupRepository } from '../store/backup-repository.js';

export interface ListOptions {
  /** Only the backups of this series (`--strategy`, `?strategy=`). */
  series?: string;
  /** Told of each manifest that cannot be read (it is left out). */
  log?: Logger;
  /** Each manifest that cannot be read, with why (the backup it describes is left out). */
  unreadable?: (bad: { key: string; error: string }) => void;
  /** Each listed backup whose artifact the store does not hold (it restores nothing). */
  missing?: (m: Manifest) => void;
}

/** The cluster's backups (their manifests), newest first. */
export async function listBackups(repo: BackupRepository, opts: ListOptions = {}): Promise<Manifest[]> {
  const { backups, invalid, missing } = await repo.list();
  for (const bad of invalid) {
    opts.log?.warn({ key: bad.key, error: bad.error }, 'unreadable manifest skipped');
    opts.unreadable?.(bad);
  }
  const listed = opts.series === undefined ? backups : backups.filter((m) => inSeries(m, opts.series!));
  const gone = new Set(missing);
  for (const m of listed) if (gone.has(m.id)) opts.missing?.(m);
  return listed;
}
