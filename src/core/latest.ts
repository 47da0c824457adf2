import { describeBackup, kindOf, type BackupKind } from './backup-kind.js';
import { NotFoundError } from './errors.js';
import { counted } from './counted.js';
import { chainBaseOf, inSeries, seriesOf, type SeriesSource } from './series.js';

/** The manifest fields `latest` is chosen by. */
export interface ListedBackup {
  id: string;
  createdAt: string;
  strategy: string;
  contentType: string;
  checkpoint?: SeriesSource['checkpoint'];
}

/** What a command can use when it is given `latest`, and how to say so when the store holds none of it. */
export interface BackupUse {
  /** The kinds it reads; `any`: every backup. */
  kinds: readonly BackupKind[] | 'any';
  /** What it reads, for the message when the store holds none: "`inspect` shows the status of snapshots only". */
  reads: string;
}

/** What each reading command can use: `latest` is the newest backup of one of these kinds. */
export const USES = {
  /** `verify`, `GET /backups/latest`, downloads: every backup. */
  any: { kinds: 'any', reads: 'every backup' },
  inspect: { kinds: ['snapshot'], reads: '`inspect` shows the status of snapshots only (its --keys, --get and --render read key dumps too)' },
  /** `inspect --keys`, `--get`, `--render`: the keys of a snapshot or of a key dump. */
  inspectKeys: { kinds: ['snapshot', 'key dump'], reads: '`inspect --keys`, `--get` and `--render` read snapshots and key dumps' },
  /** `restore` with neither --data-dir nor --keys writes a key dump into etcd. */
  restoreKeyDump: {
    kinds: ['key dump'],
    reads: '`restore` without --data-dir or --keys restores key dumps (restore a snapshot with --data-dir DIR, or its live keys with --keys)',
  },
  restoreSnapshot: { kinds: ['snapshot'], reads: '`restore --data-dir`, `--snapshot-file` and `--keys` restore snapshots' },
  /** `verify --chain`: a chain of continuous backups, named by its full backup (a snapshot or key dump) or a segment. */
  verifyChain: {
    kinds: ['snapshot', 'key dump', 'delta segment'],
    reads: '`verify --chain` checks a snapshot or key dump with the delta segments recorded after it (verify any backup without --chain)',
  },
  /** The API writes the keys of key dumps and the live keys of snapshots. */
  restoreKeys: { kinds: ['key dump', 'snapshot'], reads: 'restores write key dumps and the live keys of snapshots (a render listing holds no values)' },
  stats: { kinds: ['snapshot', 'key dump', 'render listing'], reads: '`stats` reads snapshots, key dumps and render listings' },
  diff: { kinds: ['snapshot', 'key dump'], reads: '`diff` compares snapshots and key dumps (a render listing holds no values)' },
  /** `restore --image-archive` turns a container checkpoint into an OCI image. */
  restoreImage: { kinds: ['container checkpoint'], reads: '`restore --image-archive` writes container checkpoints as images' },
} as const satisfies Record<string, BackupUse>;

/** True when `use` can read `m`. */
export function canUse(use: BackupUse, m: Pick<ListedBackup, 'contentType'>): boolean {
  return use.kinds === 'any' || use.kinds.includes(kindOf(m.contentType));
}

/**
 * Listing order, and what `latest` and retention call newest: the highest id first. Ids keep the order in which
 * backups were written (nextBackupId never gives a new backup an id below the newest stored one), where createdAt is
 * only the clock of the machine that took each: one whose clock was ahead must not outrank every backup after it.
 */
export function newestFirst(a: Pick<ListedBackup, 'id'>, b: Pick<ListedBackup, 'id'>): number {
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

export interface LatestQuery {
  use: BackupUse;
  /** Only backups of this series (seriesOf; `--strategy`). */
  series?: string;
  /** Where the backups are, for messages: `cluster "prod" in s3://bucket/prefix`. */
  where: string;
}

const kindsText = (kinds: readonly string[]) =>
  kinds.length === 1 ? kinds[0]! : `${kinds.slice(0, -1).join(', ')} or ${kinds[kinds.length - 1]!}`;

/**
 * `latest` for a command: the newest backup it can use (of the series, when one is asked for). When there is none
 * it fails naming what the store does hold: `no snapshot backup of cluster "x" in /backups; the newest backup is a
 * render listing (20261122T030710.123Z-a1b2c3, 2026-11-22T03:07:10.123Z): \`inspect\` shows the status of snapshots only`.
 */
export function pickLatest<T extends ListedBackup>(backups: readonly T[], q: LatestQuery): T {
  const sorted = [...backups].sort(newestFirst);
  if (sorted.length === 0) throw new NotFoundError(`no backups of ${q.where}`);
  const members = q.series === undefined ? sorted : sorted.filter((m) => inSeries(m, q.series!));
  if (members.length === 0) {
    // Delta segments belong to their full backup's chain, not to a series `--strategy` could name.
    const counts = new Map<string, number>();
    let segments = 0;
    for (const m of sorted) {
      if (chainBaseOf(m) !== undefined) segments++;
      else counts.set(seriesOf(m), (counts.get(seriesOf(m)) ?? 0) + 1);
    }
    const held = [...counts].map(([s, n]) => `${s} (${n})`).join(', ');
    const chained = counted(segments, 'delta segment');
    const holds = counts.size === 0 ? `it holds only ${chained}, of full backups gone` : `its series are ${held}${segments > 0 ? `, and ${chained} of their chains` : ''}`;
    throw new NotFoundError(`no backup of series "${q.series!}" of ${q.where}; ${holds}`);
  }
  const found = members.find((m) => canUse(q.use, m));
  if (found) return found;
  const newest = members[0]!;
  const wanted = q.use.kinds === 'any' ? 'usable' : kindsText(q.use.kinds);
  const scope = q.series === undefined ? '' : ` of series "${q.series}"`;
  throw new NotFoundError(
    `no ${wanted} backup${scope} of ${q.where}; the newest${scope ? ' of that series' : ' backup'} is a ${describeBackup(newest)} ` +
      `(${newest.id}, ${newest.createdAt}): ${q.use.reads}`,
  );
}
