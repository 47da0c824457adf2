import { DELTA_CONTENT_TYPE } from '../archive/delta-segment-format.js';
import type { Manifest } from '../archive/manifest.js';
import { buildChains, type Chain, type ChainBase, type ChainSegment } from '../core/delta-chain.js';
import { canUse, type BackupUse } from '../core/latest.js';
import { seriesOf } from '../core/series.js';
import type { BackupRepository } from '../store/backup-repository.js';

/** A full backup a chain starts from, with its manifest. */
export interface BaseBackup extends ChainBase {
  manifest: Manifest;
}

/** A delta segment, with its manifest. */
export interface SegmentBackup extends ChainSegment {
  manifest: Manifest;
}

export type BackupChain = Chain<BaseBackup, SegmentBackup>;

/** True when the manifest is a delta segment's (strategy `delta`, or its content type). */
export function isDeltaManifest(m: Pick<Manifest, 'strategy' | 'contentType'>): boolean {
  return m.strategy === 'delta' || m.contentType === DELTA_CONTENT_TYPE;
}

const COUNT = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const TIME = (v: unknown): v is string => typeof v === 'string' && !Number.isNaN(Date.parse(v));

/**
 * The chain fields of a delta segment's manifest (`base`, `fromRevision`, `toRevision`, `events`, the times of its
 * first and last change), or undefined when they are missing or malformed: such a segment is left out of every chain
 * (a restore never applies a segment it cannot place).
 */
export function segmentOf(m: Manifest): SegmentBackup | undefined {
  const f = m as unknown as Record<string, unknown>;
  if (typeof f.base !== 'string' || !COUNT(f.fromRevision) || !COUNT(f.toRevision) || !COUNT(f.events)) return undefined;
  return {
    id: m.id,
    createdAt: m.createdAt,
    base: f.base,
    fromRevision: f.fromRevision,
    toRevision: f.toRevision,
    events: f.events,
    ...(TIME(f.firstEventAt) && { firstEventAt: f.firstEventAt }),
    ...(TIME(f.lastEventAt) && { lastEventAt: f.lastEventAt }),
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
 * core/delta-chain.ts). Manifests that cannot be read are left out, as `list` reports them.
 */
export async function loadChains(repo: BackupRepository, q: ChainQuery): Promise<BackupChain[]> {
  const { backups } = await repo.list();
  const bases: BaseBackup[] = [];
  const segments: SegmentBackup[] = [];
  for (const m of backups) {
    if (isDeltaManifest(m)) {
      const s = segmentOf(m);
      if (s) segments.push(s);
    } else if (canUse(q.use, m) && (q.series === undefined || seriesOf(m) === q.series)) {
      bases.push({ id: m.id, createdAt: m.createdAt, revision: m.etcd.revision, manifest: m });
    }
  }
  return buildChains(bases, segments).chains;
}
