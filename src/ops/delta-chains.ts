import { etcdOf, isDeltaManifest, type DeltaManifest, type Manifest } from '../archive/manifest.js';
import { kindOf } from '../core/backup-kind.js';
import { buildChains, type Chain, type ChainBase, type ChainSegment } from '../core/delta-chain.js';
import { canUse, type BackupUse } from '../core/latest.js';
import { seriesOf } from '../core/series.js';
import type { BackupRepository, Listing } from '../store/backup-repository.js';

/** A full backup a chain starts from, with its manifest. */
export interface BaseBackup extends ChainBase {
  manifest: Manifest;
}

/** A delta segment, with its manifest. */
export interface SegmentBackup extends ChainSegment {
  manifest: Manifest;
}

export type BackupChain = Chain<BaseBackup, SegmentBackup>;

/** A delta segment's manifest as a link of its chain (parseManifest checked its fields). */
export function segmentOf(m: DeltaManifest): SegmentBackup {
  return {
    id: m.id,
    createdAt: m.createdAt,
    base: m.base,
    fromRevision: m.fromRevision,
    toRevision: m.toRevision,
    events: m.events,
    ...(m.firstEventAt !== undefined && { firstEventAt: m.firstEventAt }),
    ...(m.lastEventAt !== undefined && { lastEventAt: m.lastEventAt }),
    manifest: m,
  };
}

export interface ChainQuery {
  /** The kinds of full backup the restore can start from (a snapshot for --data-dir / --keys, a key dump otherwise). */
  use: BackupUse;
  /** Only full backups of this series (`--strategy`). */
  series?: string;
}

/**
 * The chains of the store: each full backup the restore can start from, with the segments that continue it (see
 * core/delta-chain.ts). Manifests that cannot be read are left out of the chains and returned as `invalid`; the backups
 * whose artifact is not whole in the store, as `unusable`.
 */
export async function loadChains(
  repo: BackupRepository,
  q: ChainQuery,
): Promise<{ chains: BackupChain[]; invalid: Listing['invalid']; unusable: Listing['unusable']; newerKinds: Manifest[] }> {
  const { backups, invalid, unusable } = await repo.list();
  const bases: BaseBackup[] = [];
  const segments: SegmentBackup[] = [];
  // Backups of a content type this version does not know (a newer reshifter's), of the series: a `latest` past them is refused.
  const newerKinds: Manifest[] = [];
  for (const m of backups) {
    const ofSeries = q.series === undefined || seriesOf(m) === q.series;
    if (isDeltaManifest(m)) segments.push(segmentOf(m));
    else if (canUse(q.use, m) && ofSeries) bases.push({ id: m.id, createdAt: m.createdAt, revision: etcdOf(m).revision, manifest: m });
    else if (kindOf(m.contentType) === 'other' && ofSeries) newerKinds.push(m);
  }
  return { chains: buildChains(bases, segments).chains, invalid, unusable, newerKinds };
}

/** A chain as `GET /api/v1/chains` and the web UI show it: the base, its segments over time, how far it reaches. */
export interface ChainView {
  base: { id: string; createdAt: string; revision: number; strategy: string; contentType: string };
  segments: Array<Pick<SegmentBackup, 'id' | 'createdAt' | 'fromRevision' | 'toRevision' | 'events' | 'firstEventAt' | 'lastEventAt'> & { sizeBytes: number }>;
  /** Every revision from base.revision to coveredTo can be restored. */
  coveredTo: number;
  /** When its newest recorded change was seen. */
  lastObservedAt?: string;
  problems: string[];
}

/** The chains of full backups that can be restored (snapshots and key dumps), newest base first, as views. */
export async function listChainViews(repo: BackupRepository): Promise<ChainView[]> {
  const { chains } = await loadChains(repo, { use: { kinds: ['snapshot', 'key dump'], reads: 'snapshots and key dumps' } });
  return chains.map((c) => {
    const last = [...c.covered].reverse().find((s) => s.lastEventAt !== undefined);
    const b = c.base.manifest;
    return {
      base: { id: b.id, createdAt: b.createdAt, revision: etcdOf(b).revision, strategy: b.strategy, contentType: b.contentType },
      segments: c.segments.map((s) => ({
        id: s.id,
        createdAt: s.createdAt,
        fromRevision: s.fromRevision,
        toRevision: s.toRevision,
        events: s.events,
        sizeBytes: s.manifest.sizeBytes,
        ...(s.firstEventAt !== undefined && { firstEventAt: s.firstEventAt }),
        ...(s.lastEventAt !== undefined && { lastEventAt: s.lastEventAt }),
      })),
      coveredTo: c.coveredTo,
      ...(last?.lastEventAt !== undefined && { lastObservedAt: last.lastEventAt }),
      problems: c.problems,
    };
  });
}
