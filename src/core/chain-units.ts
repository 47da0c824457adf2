import { KEY_DUMP_CONTENT_TYPE, SNAPSHOT_CONTENT_TYPE } from './content-type.js';
import type { RetentionDecision } from './retention.js';
import { seriesOf } from './series.js';

/** The manifest fields retention groups backups and their delta segments by. */
interface UnitMember {
  id: string;
  createdAt: string;
  strategy: string;
  contentType: string;
  /** Absent for a container checkpoint, which no chain continues. */
  etcd?: { apiVersion: string } | undefined;
  /** A delta segment's full backup. */
  base?: string;
}

/** The store's backups as retention sees them: full backups, each with the segments of its chain. */
export interface ChainUnits<M extends UnitMember> {
  full: M[];
  /** Segments by the id of their full backup, oldest first. */
  segments: Map<string, M[]>;
  /** Segments whose full backup is gone, older than an hour (younger ones may belong to a backup being written). */
  orphanSegments: M[];
  /** The newest full backup a chain can start from: the chain being recorded. */
  newestBase?: string;
  /**
   * In each series, the full backup whose chain was written last (it holds the newest segment): the chain `run` goes
   * on recording, even when a backup another job took into its series since is newer (core/latest.ts's newest).
   */
  recordedBases: Set<string>;
}

const DELTA_STRATEGY = 'delta';
const ORPHAN_SEGMENT_AGE_MS = 60 * 60 * 1000;
const CHAIN_BASE_TYPES = new Set<string>([SNAPSHOT_CONTENT_TYPE, KEY_DUMP_CONTENT_TYPE]);

/**
 * Splits backups into retention's units: a full backup and the delta segments that continue it are one, decided by
 * the rules for the full backup (segments are never counted on their own, core/series.ts).
 */
export function chainUnits<M extends UnitMember>(backups: readonly M[], now: Date): ChainUnits<M> {
  const full = backups.filter((m) => m.strategy !== DELTA_STRATEGY);
  const ids = new Set(full.map((m) => m.id));
  const segments = new Map<string, M[]>();
  const orphanSegments: M[] = [];
  for (const m of backups) {
    if (m.strategy !== DELTA_STRATEGY || m.base === undefined) continue;
    if (ids.has(m.base)) segments.set(m.base, [...(segments.get(m.base) ?? []), m]);
    else if (now.getTime() - Date.parse(m.createdAt) >= ORPHAN_SEGMENT_AGE_MS) orphanSegments.push(m);
  }
  for (const list of segments.values()) list.sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : 1));
  const bases = full.filter((m) => CHAIN_BASE_TYPES.has(m.contentType) && m.etcd?.apiVersion === 'v3');
  // Newest by id, as `latest` (core/latest.ts newestFirst).
  const newest = bases.sort((a, b) => (a.id < b.id ? 1 : -1))[0];
  return { full, segments, orphanSegments, recordedBases: lastWrittenPerSeries(full, segments), ...(newest !== undefined && { newestBase: newest.id }) };
}

/** Per series, the full backup whose chain holds the newest segment (by id, as newest goes everywhere). */
function lastWrittenPerSeries<M extends UnitMember>(full: readonly M[], segments: ReadonlyMap<string, M[]>): Set<string> {
  const last = new Map<string, { base: string; segment: string }>();
  for (const m of full) {
    const newestSegment = (segments.get(m.id) ?? []).reduce((top, s) => (s.id > top ? s.id : top), '');
    if (newestSegment === '') continue;
    const series = seriesOf(m);
    const seen = last.get(series);
    if (seen === undefined || newestSegment > seen.segment) last.set(series, { base: m.id, segment: newestSegment });
  }
  return new Set([...last.values()].map((l) => l.base));
}

/** The decisions of the full backups, each followed by its segments' (kept or deleted with it), and the orphans'. */
export function withSegments<M extends UnitMember>(full: readonly RetentionDecision[], units: ChainUnits<M>): RetentionDecision[] {
  const out: RetentionDecision[] = [];
  for (const d of full) {
    out.push(d);
    for (const s of units.segments.get(d.id) ?? []) out.push({ id: s.id, series: DELTA_STRATEGY, keep: d.keep, reasons: d.keep ? [`chain of ${d.id}`] : [] });
  }
  for (const s of units.orphanSegments) out.push({ id: s.id, series: DELTA_STRATEGY, keep: false, reasons: [] });
  return out;
}
