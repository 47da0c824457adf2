/** Retention rules; a backup is kept if any rule keeps it. All undefined: keep everything. */
export interface RetentionRules {
  keepLast?: number;
  keepHourly?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  /** Keep backups younger than this many milliseconds. */
  maxAgeMs?: number;
}

export interface RetentionInput {
  id: string;
  createdAt: Date;
  /** The backup's series (seriesOf): the rules count each series on its own. */
  series: string;
  /**
   * The etcd cluster it is counted with (core/etcd-cluster-change.ts retentionClusters; '' or absent: none recorded):
   * the rules count each cluster's backups of a series on their own.
   */
  etcdClusterId?: string;
}

export interface RetentionDecision {
  id: string;
  series: string;
  /** The etcd cluster it was counted with, when its series records one. */
  etcdClusterId?: string;
  keep: boolean;
  /** Why it is kept (`newest` of its series, `protected`, `last`, `hourly`, `daily`, `weekly`, `monthly`, `max-age`, `no-rules`). */
  reasons: string[];
}

/** True when at least one rule is set, i.e. retention may delete something. */
export function hasRetentionRules(rules: RetentionRules): boolean {
  return Object.values(rules).some((v) => v !== undefined);
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** ISO-8601 week of a UTC date, as `2026-W47` (weeks start on Monday; the year is the week's Thursday's). */
function isoWeek(d: Date): string {
  const t = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const day = t.getUTCDay() || 7;
  t.setUTCDate(t.getUTCDate() + 4 - day);
  const yearStart = Date.UTC(t.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((t.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${t.getUTCFullYear()}-W${pad(week)}`;
}

const BUCKETS: Array<[keyof RetentionRules, string, (d: Date) => string]> = [
  ['keepHourly', 'hourly', (d) => d.toISOString().slice(0, 13)],
  ['keepDaily', 'daily', (d) => d.toISOString().slice(0, 10)],
  ['keepWeekly', 'weekly', isoWeek],
  ['keepMonthly', 'monthly', (d) => d.toISOString().slice(0, 7)],
];

/**
 * Decides which backups to keep. Every rule applies within each series on its own (see seriesOf): with
 * `keepLast: 3`, hourly render listings and daily snapshots keep three of each, and the listings never push the
 * snapshots out. Within a series, the backups of each etcd cluster (etcdClusterId) are counted on their own too: a
 * cluster named by mistake, or one replaced by a restore, never pushes the other's backups out. Time buckets are UTC
 * and counted like restic's `--keep-hourly` and friends: the newest backup in each of the H most recent hours that
 * have a backup of the series (so a pause in backups never makes retention delete more). The newest backup of every
 * series (of every cluster in it) and the `protect`ed ids are always kept. Newest is by id (the order backups were
 * written, as `latest` takes it); the time buckets and max-age go by createdAt. Decisions come newest first.
 */
export function decideRetention(
  backups: readonly RetentionInput[],
  rules: RetentionRules,
  now: Date,
  protect: ReadonlySet<string> = new Set(),
): RetentionDecision[] {
  // Newest by id, as `latest` (core/latest.ts newestFirst): a backup stamped by a clock that was ahead is not newer.
  const sorted = [...backups].sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  if (!hasRetentionRules(rules)) {
    return sorted.map((b) => ({ ...decided(b), keep: true, reasons: ['no-rules'] }));
  }
  const reasons = new Map<string, string[]>(sorted.map((b) => [b.id, []]));
  const bySeries = new Map<string, RetentionInput[]>();
  for (const b of sorted) {
    const group = `${b.series}\0${b.etcdClusterId ?? ''}`;
    const members = bySeries.get(group);
    if (members) members.push(b);
    else bySeries.set(group, [b]);
  }
  for (const members of bySeries.values()) keepInSeries(members, rules, now, protect, (id, why) => reasons.get(id)!.push(why));
  return sorted.map((b) => {
    const why = reasons.get(b.id)!;
    return { ...decided(b), keep: why.length > 0, reasons: why };
  });
}

/** A decision's own fields of `b`. */
function decided(b: RetentionInput): Pick<RetentionDecision, 'id' | 'series' | 'etcdClusterId'> {
  return { id: b.id, series: b.series, ...(b.etcdClusterId ? { etcdClusterId: b.etcdClusterId } : {}) };
}

/** Applies the rules to the backups of one series (newest first), calling `add` with every reason to keep one. */
function keepInSeries(
  sorted: readonly RetentionInput[],
  rules: RetentionRules,
  now: Date,
  protect: ReadonlySet<string>,
  add: (id: string, why: string) => void,
): void {
  if (sorted[0]) add(sorted[0].id, 'newest');
  for (const b of sorted) if (protect.has(b.id)) add(b.id, 'protected');
  sorted.slice(0, rules.keepLast ?? 0).forEach((b) => add(b.id, 'last'));
  for (const [rule, name, bucketOf] of BUCKETS) {
    const limit = rules[rule] ?? 0;
    const seen = new Set<string>();
    for (const b of sorted) {
      if (seen.size >= limit) break;
      const bucket = bucketOf(b.createdAt);
      if (seen.has(bucket)) continue;
      seen.add(bucket);
      add(b.id, name);
    }
  }
  if (rules.maxAgeMs !== undefined) {
    for (const b of sorted) if (now.getTime() - b.createdAt.getTime() < rules.maxAgeMs) add(b.id, 'max-age');
  }
}
