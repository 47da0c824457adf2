import type { CodecKeys } from '../archive/codec.js';
import { isDeltaManifest, type DeltaManifest } from '../archive/manifest.js';
import { newerKindText } from '../core/backup-kind.js';
import type { DeltaEvent } from '../core/delta-event.js';
import { NoBaseOfKindError, resolveTarget, type Resolution, type Target } from '../core/delta-chain.js';
import { USES, type BackupUse } from '../core/latest.js';
import { NotFoundError, RefusedError } from '../core/errors.js';
import type { Logger } from '../log.js';
import { formatBytes } from '../progress.js';
import { unreadableNewer, unusableText, type BackupRepository, type Listing } from '../store/backup-repository.js';
import { loadChains, type BackupChain, type BaseBackup, type SegmentBackup } from './delta-chains.js';
import { openSegments, type OpenedSegments } from './segment-events.js';

export type PointResolution = Resolution<BaseBackup, SegmentBackup>;

/** Where a point-in-time restore goes: what was asked, and the revision that means. */
export interface PointTarget {
  /** `--to` as given: `latest`, a revision, or an RFC 3339 time. */
  asked: string;
  revision: number;
  /** When the last change applied was observed (absent when none is applied: the base alone). */
  observedAt?: string;
}

/** What every point-in-time restore reports, besides what its form writes. */
export interface PointReport {
  target: PointTarget;
  /** The full backup restored, the revision its manifest names and the revision its content reached. */
  base: { id: string; revision: number; restoredRevision: number };
  /** The segments whose changes were read, oldest first, and how many changes were applied over the base. */
  segments: string[];
  events: number;
}

/**
 * The base's content reached past the target: this chain cannot restore it (a snapshot may hold a few revisions more
 * than its manifest says).
 */
export class BaseTooNewError extends Error {
  override name = 'BaseTooNewError';
}

/**
 * The ways to restore to `target`, best first (see resolveTarget): from backup `id`'s chain, or with `latest` from
 * the newest full backup the restore's form can use at or before the target. Throws a TargetNotRecordedError naming
 * what the store holds when none covers it.
 */
export async function resolvePoint(repo: BackupRepository, id: string, target: Target, q: { use: BackupUse; series?: string }): Promise<PointResolution[]> {
  const { chains, invalid, unusable, newerKinds } = await loadChains(repo, q);
  // A base named by id whose artifact is missing or cut short is refused before anything is read, in the words of a
  // restore by id (checkWhole): the listing above tells, so a whole one costs no request of its own.
  const named = id === 'latest' ? undefined : chains.find((c) => c.base.id === id);
  if (named !== undefined && unusable.some((u) => u.id === id)) await repo.checkWhole(named.base.manifest, q.use, q.series);
  // Said in the words of the restore's form: "no full backup" read as false beside a snapshot that --data-dir restores.
  if (id === 'latest' && chains.length === 0) {
    // A cluster without any backup (RS_CLUSTER_NAME mistyped in a recovery) is said as `restore latest` says it, naming
    // the clusters that have some; the newest backup of any kind is only looked at, never used.
    await repo.get('latest', USES.any).catch((err: unknown) => {
      if (err instanceof NotFoundError) throw err;
    });
    const kinds = q.use.kinds === 'any' ? 'full backup' : q.use.kinds.join(' or ');
    throw new NoBaseOfKindError(`the store holds no ${kinds}${q.series === undefined ? '' : ` of series ${q.series}`} to restore from`, q.use.reads);
  }
  const resolutions = resolveTarget(chains, target, id === 'latest' ? {} : { baseId: id });
  const best = resolutions[0];
  if (id === 'latest') refuseUnusableBase(resolutions, chains, unusable, target);
  if (target.kind === 'latest' && best !== undefined) {
    // As `latest` of a backup (BackupRepository.get): never an older state, silently, because the manifest of a
    // newer backup or segment cannot be read.
    const newest = [best.chain.base.id, ...best.segments.map((s) => s.id)].sort().at(-1)!;
    const unknown = newerKinds.filter((m) => m.id > newest).sort((a, b) => (a.id < b.id ? 1 : -1))[0];
    if (unknown !== undefined) {
      throw new RefusedError(`--to latest would restore revision ${best.revision} (backup ${newest}), but this version cannot read a newer backup: ${newerKindText(unknown)}. Give --to ${best.revision} to restore that`);
    }
    const newer = unreadableNewer(invalid, newest);
    if (newer.length > 0) {
      throw new RefusedError(
        `--to latest would restore revision ${best.revision} (backup ${newest}), but the manifest of a newer backup cannot be read: ${newer.join(', ')}. ` +
          `Give --to ${best.revision} to restore that, or repair or delete the newer backup`,
      );
    }
  }
  return resolutions;
}

/**
 * Refuses `latest` when the full backup it would start from has no whole artifact in the store (it restores nothing),
 * before anything is read, as `restore latest` without --to does: naming a whole full backup that restores the same
 * point (another chain that reaches it), or else the newest whole one and how far its chain reaches.
 */
function refuseUnusableBase(resolutions: readonly PointResolution[], chains: readonly BackupChain[], unusable: Listing['unusable'], target: Target): void {
  const bad = new Map(unusable.map((u) => [u.id, u]));
  const u = resolutions[0] && bad.get(resolutions[0].chain.base.id);
  if (u === undefined) return;
  const other = resolutions.find((r) => !bad.has(r.chain.base.id));
  const same = other?.chain.base.manifest;
  let instead: string;
  // With its id, --to latest is the newest change of that backup's own chain: the revision is given instead.
  const to = target.kind === 'latest' && other !== undefined ? ` and --to ${other.revision} for --to latest` : '';
  if (same !== undefined) instead = `${same.id} (${same.strategy}, taken ${same.createdAt}) restores the same point: give its id instead of "latest"${to}`;
  else {
    const whole = [...chains].sort((a, b) => (a.base.id < b.base.id ? 1 : -1)).find((c) => !bad.has(c.base.id));
    instead =
      whole === undefined
        ? 'no other full backup of that kind is whole'
        : `no whole full backup reaches that point; the newest whole one is ${whole.base.id} (${whole.base.manifest.strategy}, taken ${whole.base.createdAt}), which restores up to revision ${whole.coveredTo}: give its id and a --to at or before that`;
  }
  throw new RefusedError(`"latest" would start from backup ${u.id}, but ${unusableText(u)}; ${instead}`);
}

/**
 * Downloads a resolution's segments (verified) and settles its revision: for a time that falls among a segment's
 * changes, the last revision observed at or before it. The caller removes the segments.
 */
export async function openPoint(repo: BackupRepository, r: PointResolution, keys: CodecKeys, signal?: AbortSignal, log?: Logger): Promise<{ segments: OpenedSegments; revision: number }> {
  if (r.segments.length > 0) {
    const bytes = r.segments.reduce((n, s) => n + s.manifest.sizeBytes, 0);
    log?.info({ segments: r.segments.length, sizeBytes: bytes }, `reading ${r.segments.length} segment${r.segments.length === 1 ? '' : 's'} of recorded changes (${formatBytes(bytes)}) from ${repo.store.location}`);
  }
  const segments = await openSegments(repo, r.segments, keys, signal);
  try {
    if (r.scan === undefined) return { segments, revision: r.revision };
    const s = r.scan.segment;
    return { segments, revision: await observedBy(segments.events(s.fromRevision - 1, s.toRevision), r.scan.notAfter, r.scan.fallback) };
  } catch (err) {
    await segments.remove();
    throw err;
  }
}

/**
 * The last revision observed at or before `notAfter`, or `fallback` when none was (revisionObservedBy of
 * core/delta-chain.ts, over a segment read from its copy). The segment is read to its end: only a whole one counts.
 */
async function observedBy(events: AsyncIterable<DeltaEvent>, notAfter: number, fallback: number): Promise<number> {
  let revision = fallback;
  let past = false;
  for await (const e of events) {
    if (e.observedAt > notAfter) past = true;
    if (!past) revision = e.modRevision;
  }
  return revision;
}

/**
 * Delta segments whose full backup the store no longer holds (deleted while `run` went on recording onto its chain)
 * record changes no restore can reach. When they reach beyond the state `--to latest` would restore, that state is
 * older than the newest change recorded: refused, saying so, with the `--to` that restores it as meant (the CLI's
 * `restore latest --to latest`, the API's `{"backupId":"latest","to":"latest"}`).
 */
export async function refuseStranded(repo: BackupRepository, best: PointResolution): Promise<void> {
  const { backups } = await repo.list();
  const full = new Set(backups.filter((m) => !isDeltaManifest(m)).map((m) => m.id));
  const stranded = backups.filter((m): m is DeltaManifest => isDeltaManifest(m) && !full.has(m.base) && m.toRevision > best.revision);
  if (stranded.length === 0) return;
  const newest = stranded.reduce((a, b) => (b.toRevision > a.toRevision ? b : a));
  throw new RefusedError(
    `--to latest would restore revision ${best.revision} from ${best.chain.base.id}, but delta segments of the chain of ${newest.base}, which is not in the store, record changes up to revision ${newest.toRevision}: ` +
      `without their full backup they cannot be restored; give --to ${best.revision} to restore the newest state that can be`,
  );
}

/** How a restore asks for a whole backup's chain instead: the CLI's flags, the API's body fields. */
export interface WholeChainAsks {
  /** The snapshot's keys: `--keys`, `"strategy": "snapshot"`. */
  snapshot: string;
  /** The newest raw dump: `--strategy raw`, `"strategy": "raw"`. */
  raw: string;
}

/**
 * A restore of `latest` to a point into the running etcd starts from the newest key dump at the target, which may be
 * the hourly `filter:` CronJob's: it restores the resources its filter selected, not the cluster. Names it, and the
 * whole backups whose chains restore the same point (a snapshot's keys, a raw dump) with how to ask for each;
 * undefined when the base is no filter: dump.
 */
export async function filterBaseNote(repo: BackupRepository, target: Target, best: PointResolution, asks: WholeChainAsks): Promise<string | undefined> {
  const m = best.chain.base.manifest;
  if (!m.strategy.startsWith('filter:')) return undefined;
  const reaching = async (q: { use: BackupUse; series?: string }, ask: string): Promise<string | undefined> => {
    const r = (await resolvePoint(repo, 'latest', target, q).catch(() => []))[0];
    if (r === undefined || r.revision < best.revision) return undefined;
    const b = r.chain.base.manifest;
    return `${b.strategy} ${b.id}${r.segments.length > 0 ? ' and the changes recorded after it' : ''} restore every key at revision ${r.revision}: ${ask}`;
  };
  const whole = (await Promise.all([reaching({ use: USES.restoreSnapshot }, asks.snapshot), reaching({ use: USES.restoreKeyDump, series: 'raw' }, asks.raw)])).filter((w) => w !== undefined);
  const what = `"latest" is the newest key dump at the target, ${m.id} (${m.strategy}), which holds only the resources its filter selected`;
  return `${what}; ${whole.length > 0 ? whole.join('; ') : 'no snapshot or raw dump in the store reaches the target'}`;
}
