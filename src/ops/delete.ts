import { basename } from 'node:path';
import { isDeltaManifest, type DeltaManifest, type Manifest } from '../archive/manifest.js';
import { counted } from '../core/counted.js';
import { NotFoundError, RefusedError } from '../core/errors.js';
import { chainUnits } from '../core/chain-units.js';
import { newestFirst } from '../core/latest.js';
import { nearbyIds } from '../core/nearby.js';
import { idOfFile } from '../core/naming.js';
import { chainBaseOf, seriesOf } from '../core/series.js';
import type { BackupRepository, Listing } from '../store/backup-repository.js';
import type { OpContext } from './context.js';

export interface DeleteOptions {
  /** Says what would be deleted; deletes nothing. */
  dryRun?: boolean;
  /** Also deletes the newest backup of a series (what `latest` of that series restores). */
  force?: boolean;
  /** How the caller asks for `force`, for a refusal to name: `--force` (the CLI, the default), `?force=true` (the API). */
  forceAs?: string;
}

export interface DeletedBackup {
  id: string;
  series: string;
  createdAt: string;
  artifact: string;
  /** Backups deleted with it because they cannot be read without it (segments of a chain; none yet). */
  dependents: string[];
}

export interface DeleteResult {
  dryRun: boolean;
  deleted: DeletedBackup[];
}

/**
 * Throws unless every one of `ids` is a backup of `byId`: NotFoundError when one is in the store in no way (naming the
 * ids nearby); RefusedError when its manifest is there but cannot be read (written by a newer reshifter, of another
 * cluster, damaged): deleting what cannot be read would be deleting blind, and "no backup" would be untrue.
 */
function checkKnown(repo: BackupRepository, ids: readonly string[], byId: ReadonlyMap<string, Manifest>, invalid: Listing['invalid']): void {
  const unreadable = new Map(invalid.flatMap((bad) => [[idOfFile(basename(bad.key)) ?? '', bad] as const]));
  const unknown = ids.filter((id) => !byId.has(id) && !unreadable.has(id));
  const where = `cluster "${repo.cluster}" in ${repo.store.location}`;
  const all = [...byId.keys()];
  const lines = ids.flatMap((id) => {
    const bad = byId.has(id) ? undefined : unreadable.get(id);
    if (bad === undefined) return unknown.includes(id) ? [`no backup "${id}" of ${where}; ${nearbyIds(id, all)}`] : [];
    // Another cluster's backup synced into this folder is that cluster's to delete; otherwise a newer reshifter's.
    const instead = bad.cluster !== undefined ? `move its files (${id}.*) to the folder of cluster ${bad.cluster}` : 'delete it with the reshifter that wrote it (a newer version)';
    return [
      `backup ${id} cannot be deleted: its manifest ${bad.key} cannot be read (${bad.error}); reshifter deletes only a backup whose manifest it ` +
        `reads, so it is left as it is: ${instead}, or remove its files (${id}.*) by hand`,
    ];
  });
  if (lines.length === 0) return;
  throw unknown.length > 0 ? new NotFoundError(lines.join('\n')) : new RefusedError(lines.join('\n'));
}

/**
 * Deletes backups by id, as `reshifter delete` and `DELETE /api/v1/backups/{id}` both do. Every id is checked first
 * and nothing is deleted when one fails: an id the store does not hold (NotFoundError naming what it holds nearby),
 * or the newest backup of its series without `force` (RefusedError). Each backup goes as retention removes one
 * (removeBackup): its dependents, then its manifest, then its artifact.
 */
export async function deleteBackups(ctx: Pick<OpContext, 'log'>, repo: BackupRepository, ids: readonly string[], opts: DeleteOptions = {}): Promise<DeleteResult> {
  const { backups, invalid } = await repo.list();
  const byId = new Map(backups.map((m) => [m.id, m]));
  const unique = [...new Set(ids)];
  checkKnown(repo, unique, byId, invalid);
  const targets = unique.map((id) => byId.get(id)!);
  if (!opts.force) refuseUnforced(targets, backups, unique, opts.forceAs ?? '--force');
  const log = ctx.log.child({ component: 'delete' });
  const deleted: DeletedBackup[] = [];
  for (const m of targets) {
    const dependents = dependentsOf(m, backups);
    deleted.push({ id: m.id, series: seriesOf(m), createdAt: m.createdAt, artifact: m.artifact, dependents: dependents.map((d) => d.id) });
    if (opts.dryRun) continue;
    await removeBackup(repo, m, backups);
    log.info({ id: m.id, series: seriesOf(m), dependents: dependents.length }, 'backup deleted');
  }
  return { dryRun: opts.dryRun === true, deleted };
}

/**
 * What `delete` refuses without `force`: the newest backup of a series (what `latest` of it reads), the full backup of
 * the chain of continuous backups written last in its series (`run` may still be recording onto it: every segment it
 * stores after would have no base, restorable by nothing), and a segment from the middle of a chain.
 */
function refuseUnforced(targets: readonly Manifest[], backups: readonly Manifest[], unique: readonly string[], force: string): void {
  const newest = newestOfSeries(backups);
  const refused = targets.filter((m) => newest.get(seriesOf(m)) === m.id);
  if (refused.length > 0) {
    throw new RefusedError(
      refused.map((m) => `backup ${m.id} is the newest of series "${seriesOf(m)}" (what "latest" of it reads): refusing to delete it without ${force}`).join('\n'),
    );
  }
  const cutting = targets.filter(isDeltaManifest).map((m) => ({ m, after: laterSegments(m, backups, unique) })).filter((c) => c.after > 0);
  if (cutting.length > 0) {
    throw new RefusedError(
      cutting
        .map(({ m, after }) => `segment ${m.id} holds revisions ${m.fromRevision}..${m.toRevision} of the chain of ${m.base}: deleting it would leave ${counted(after, 'later segment')} past a gap, so no restore could reach past revision ${m.fromRevision - 1}; refusing without ${force} (delete the chain's full backup ${m.base} to remove the whole chain)`)
        .join('\n'),
    );
  }
  const recorded = chainUnits(backups as Array<Manifest & { base?: string }>, new Date()).recordedBases;
  const recording = targets.filter((m) => recorded.has(m.id));
  if (recording.length > 0) {
    throw new RefusedError(
      recording
        .map((m) => `backup ${m.id} heads the chain of continuous backups written last in series "${seriesOf(m)}": run may still be recording onto it, and the segments it stores after would have no full backup to restore from; refusing to delete it without ${force}`)
        .join('\n'),
    );
  }
}

/**
 * Removes one backup from the store: first the backups that depend on it (newest first), then its manifest, so it
 * stops existing at once, then its artifact (one left behind by a crash is an orphan that prune removes). Never a
 * manifest without its artifact.
 */
export async function removeBackup(repo: BackupRepository, m: Manifest, all: readonly Manifest[]): Promise<void> {
  // One unit, as retention deletes it: every manifest first (newest segment first), then the files.
  await repo.deleteAll([...dependentsOf(m, all), m]);
}

/** The backups that cannot be read without `m`, newest first (core/series.ts chainBaseOf). */
function dependentsOf(m: Manifest, all: readonly Manifest[]): Manifest[] {
  return all.filter((x) => x.id !== m.id && chainBaseOf(x) === m.id).sort(newestFirst);
}

/** The id of the newest backup of each series. */
function newestOfSeries(backups: readonly Manifest[]): Map<string, string> {
  const newest = new Map<string, string>();
  for (const m of [...backups].sort(newestFirst)) if (!newest.has(seriesOf(m))) newest.set(seriesOf(m), m.id);
  return newest;
}

/** How many segments of `m`'s chain start after it and are not deleted with it: what deleting it would strand. */
function laterSegments(m: DeltaManifest, all: readonly Manifest[], deleting: readonly string[]): number {
  return all.filter((x) => isDeltaManifest(x) && x.base === m.base && x.fromRevision > m.toRevision && !deleting.includes(x.id)).length;
}
