import type { Manifest } from '../archive/manifest.js';
import { chainUnits, withSegments, type ChainUnits } from '../core/chain-units.js';
import { retentionClusters } from '../core/etcd-cluster-change.js';
import { decideRetention, hasRetentionRules, type RetentionDecision, type RetentionRules } from '../core/retention.js';
import { seriesMatches, seriesOf } from '../core/series.js';
import type { BackupRepository, Listing } from '../store/backup-repository.js';
import type { Logger } from '../log.js';
import type { OpContext } from './context.js';

/** Files of no backup (a failed or killed run) are removed once they are this old; younger ones may be in flight. */
export const ORPHAN_AGE_MS = 60 * 60 * 1000;

export interface PruneResult {
  deleted: string[];
  kept: string[];
  orphansDeleted: string[];
  /** Every backup's decision, newest first: its series, and why it is kept. */
  decisions: RetentionDecision[];
  /**
   * Backups retention would have deleted that another reshifter deleted meanwhile (a second prune on the same local
   * store): neither in `deleted` nor in `decisions`. An S3 store cannot tell them from its own deletes.
   */
  goneMeanwhile: string[];
}

/**
 * Applies the retention rules to each series of the cluster's full backups (never deleting `protect`ed ids, the newest
 * backup of a series, or the newest chain of continuous backups), deleting with each full backup the delta segments
 * of its chain, and removes orphaned files older than an hour. With `series` (names as seriesNamed gives them), only
 * those series are pruned: a backup applies its job's rules to what that job takes, never to the series another job
 * (with rules of its own) takes into the same cluster. With `dryRun`, only says what it would do.
 */
export async function prune(
  ctx: Pick<OpContext, 'config' | 'log'>,
  repo: BackupRepository,
  opts: { protect?: Set<string>; dryRun?: boolean; now?: Date; series?: readonly string[]; onDeleted?: (ids: readonly string[]) => void } = {},
): Promise<PruneResult> {
  const log = ctx.log.child({ component: 'retention' });
  const now = opts.now ?? new Date();
  const listing = await repo.list();
  for (const bad of listing.invalid) log.warn({ key: bad.key, error: bad.error }, 'unreadable manifest kept');
  const units = chainUnits(listing.backups as Array<Manifest & { base?: string }>, now);
  const protect = withRecordedChains(units, opts.protect);
  const scope = opts.series;
  const inScope = scope === undefined ? units.full : units.full.filter((m) => scope.some((s) => seriesMatches(seriesOf(m), s)));
  const full = decideWithArtifacts(inScope, listing.unusable, ctx.config.retention, now, protect, log);
  const decisions = withSegments(full, units);
  const result: PruneResult = { deleted: [], kept: [], orphansDeleted: [], decisions, goneMeanwhile: [] };
  const byId = new Map(listing.backups.map((m) => [m.id, m]));
  // Only what this prune's own delete removed counts as deleted: the ids the other one removed first are not.
  const deleteUnit = async (unit: Array<Pick<Manifest, 'id' | 'artifact'>>): Promise<string[]> => {
    const gone = opts.dryRun ? new Set<string>() : await repo.deleteAll(unit);
    result.goneMeanwhile.push(...unit.filter((m) => gone.has(m.id)).map((m) => m.id));
    const deleted = unit.filter((m) => !gone.has(m.id)).map((m) => m.id);
    result.deleted.push(...deleted);
    if (deleted.length > 0 && !opts.dryRun) opts.onDeleted?.(deleted);
    return deleted;
  };
  for (const d of full) {
    const segments = units.segments.get(d.id) ?? [];
    if (d.keep) {
      result.kept.push(d.id, ...segments.map((s) => s.id));
      continue;
    }
    // A full backup and its segments are one unit: every manifest first (newest segment first), then the files.
    const deleted = await deleteUnit([...segments].reverse().concat(byId.get(d.id)!));
    if (opts.dryRun) continue;
    if (deleted.includes(d.id)) log.info({ id: d.id, series: d.series, segments: segments.length }, 'backup deleted by retention');
    else log.info({ id: d.id, series: d.series }, 'backup already deleted by another reshifter on this store');
  }
  for (const s of units.orphanSegments) {
    const deleted = await deleteUnit([s]);
    if (!opts.dryRun && deleted.length > 0) log.info({ id: s.id, base: s.base }, 'delta segment of a deleted full backup deleted');
  }
  result.orphansDeleted = await deleteOrphans(repo, listing.orphans, now, opts.dryRun === true, log);
  if (result.goneMeanwhile.length > 0) {
    const gone = new Set(result.goneMeanwhile);
    result.decisions = decisions.filter((d) => !gone.has(d.id));
  }
  if (hasRetentionRules(ctx.config.retention) || result.orphansDeleted.length > 0) {
    const series = Object.fromEntries(seriesCounts(result.decisions));
    log.info({ kept: result.kept.length, deleted: result.deleted.length, goneMeanwhile: result.goneMeanwhile.length, series, orphansDeleted: result.orphansDeleted.length, dryRun: opts.dryRun === true }, 'retention applied');
  }
  return result;
}

/**
 * The ids never deleted: those given, and the bases of the chains of continuous backups being recorded.
 */
function withRecordedChains(units: ChainUnits<Manifest>, given: ReadonlySet<string> | undefined): Set<string> {
  const protect = new Set(given);
  // The chain being recorded (the newest full backup a chain can start from) is never touched. Being the newest of its
  // series, that backup is kept as `newest` anyway: it is labelled `protected` only when it heads a chain of delta
  // segments, so that a dry run says what keeps it rather than a protection that changes nothing.
  if (units.newestBase !== undefined && units.segments.has(units.newestBase)) protect.add(units.newestBase);
  // So is the chain written last in each series: a backup another job (a CronJob of the same strategy) took since is
  // newer, but `run` goes on recording onto the chain it started, and deleting its base would leave every later
  // segment without one (restorable by nothing, removed as an orphan an hour later).
  for (const id of units.recordedBases) protect.add(id);
  return protect;
}

/**
 * The rules' decisions over the backups whose artifact is in the store whole. A backup whose artifact is gone (removed
 * by hand, lost) or cut short restores nothing: counted, it would be kept as the newest or one of the last N while
 * retention deleted the older backups that do restore. It is kept (`artifact-missing`, `artifact-size`: its manifest
 * is the trace of the loss) and counts for no rule. Decisions come newest first.
 */
function decideWithArtifacts(
  full: readonly Manifest[],
  unusable: Listing['unusable'],
  rules: RetentionRules,
  now: Date,
  protect: ReadonlySet<string>,
  log: Logger,
): RetentionDecision[] {
  const bad = new Map(unusable.map((u) => [u.id, u]));
  const whole = full.filter((m) => !bad.has(m.id));
  const clusters = retentionClusters(full);
  const input = whole.map((m) => ({ id: m.id, createdAt: new Date(m.createdAt), series: seriesOf(m), etcdClusterId: clusters.get(m.id) ?? '' }));
  const decided = decideRetention(input, rules, now, protect);
  const kept: RetentionDecision[] = full.flatMap((m) => {
    const u = bad.get(m.id);
    if (u === undefined) return [];
    log.warn({ id: m.id, artifact: m.artifact, storedBytes: u.storedBytes, sizeBytes: u.sizeBytes }, 'backup kept and not counted by retention: its artifact is missing or cut short');
    return [{ id: m.id, series: seriesOf(m), keep: true, reasons: [u.storedBytes === undefined ? 'artifact-missing' : 'artifact-size'] }];
  });
  return [...decided, ...kept].sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
}

/** Removes the files of no backup older than ORPHAN_AGE_MS; returns those this call removed (or would remove). */
async function deleteOrphans(repo: BackupRepository, orphans: ReadonlyArray<{ key: string; lastModified: Date }>, now: Date, dryRun: boolean, log: Logger): Promise<string[]> {
  const deleted: string[] = [];
  for (const o of orphans) {
    if (now.getTime() - o.lastModified.getTime() < ORPHAN_AGE_MS) continue;
    // Removed meanwhile by another prune on the same local store: that one deleted it.
    if (!dryRun && !(await repo.deleteObject(o.key))) continue;
    deleted.push(o.key);
    if (!dryRun) log.info({ key: o.key }, 'orphaned file deleted');
  }
  return deleted;
}

/** Kept and deleted counts per series, by series name. */
export function seriesCounts(decisions: readonly RetentionDecision[]): Array<[string, { kept: number; deleted: number }]> {
  const counts = new Map<string, { kept: number; deleted: number }>();
  for (const d of decisions) {
    const c = counts.get(d.series) ?? { kept: 0, deleted: 0 };
    if (d.keep) c.kept++;
    else c.deleted++;
    counts.set(d.series, c);
  }
  return [...counts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}
