import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { newBackupId, nextBackupId } from '../../../src/core/naming.js';
import { decideRetention, type RetentionDecision, type RetentionInput, type RetentionRules } from '../../../src/core/retention.js';
import { seriesOf } from '../../../src/core/series.js';

const now = new Date('2026-11-22T12:00:00Z');
const hoursAgo = (h: number) => new Date(now.getTime() - h * 3_600_000);
/** Backups of one series every `stepHours` hours for `count` steps, newest first, ids b0 (newest), b1, ... */
const series = (count: number, stepHours: number, name = 'snapshot', prefix = 'b', offsetHours = 0.25): RetentionInput[] =>
  Array.from({ length: count }, (_, i) => one(`${prefix}${i}`, hoursAgo(i * stepHours + offsetHours), name));
/**
 * The tests name backups (b0, s3, f-old); each gets a real id of its time, as a store holds (retention's newest is
 * the highest id), and decisions are read back by name.
 */
const names = new Map<string, string>();
const nameOf = (id: string) => names.get(id) ?? id;
function one(name: string, createdAt: Date, series = 'snapshot', id = newBackupId(createdAt, createHash('sha256').update(name).digest())): RetentionInput {
  names.set(id, name);
  return { id, createdAt, series };
}
/** decideRetention with `protect` and the decisions by name. */
const decide = (backups: RetentionInput[], rules: RetentionRules, protect?: Set<string>): RetentionDecision[] =>
  decideRetention(backups, rules, now, protect && new Set(backups.filter((b) => protect.has(nameOf(b.id))).map((b) => b.id))).map((d) => ({ ...d, id: nameOf(d.id) }));
const kept = (rules: RetentionRules, backups = series(48, 1), protect?: Set<string>) =>
  decide(backups, rules, protect).filter((d) => d.keep).map((d) => d.id);

describe('decideRetention', () => {
  it('keeps everything when no rule is set', () => {
    expect(kept({})).toHaveLength(48);
  });

  it.each([
    ['keepLast 3', { keepLast: 3 }, ['b0', 'b1', 'b2']],
    ['keepLast 0 keeps only the newest', { keepLast: 0 }, ['b0']],
    ['keepHourly 4', { keepHourly: 4 }, ['b0', 'b1', 'b2', 'b3']],
    // b0..b11 fall on 2026-11-22 (11:45 back to 00:45), b12..b35 on the 21st, b36.. on the 20th
    ['keepDaily 2', { keepDaily: 2 }, ['b0', 'b12']],
    ['keepDaily 3', { keepDaily: 3 }, ['b0', 'b12', 'b36']],
    ['maxAge 5h', { maxAgeMs: 5 * 3_600_000 }, ['b0', 'b1', 'b2', 'b3', 'b4']],
    ['rules add up', { keepLast: 2, keepDaily: 2 }, ['b0', 'b1', 'b12']],
  ] as const)('%s', (_name, rules, expected) => {
    expect(kept(rules)).toEqual(expected);
  });

  it('keeps the newest in each of the last weeks and months (ISO weeks, UTC months)', () => {
    const backups = [
      one('mon', new Date('2026-11-16T01:00:00Z')), // week 47
      one('sun', new Date('2026-11-15T23:00:00Z')), // week 46
      one('sat', new Date('2026-11-14T23:00:00Z')), // week 46
      one('oct', new Date('2026-10-31T23:59:59Z')),
      one('sep', new Date('2026-09-01T00:00:00Z')),
    ];
    expect(kept({ keepWeekly: 2 }, backups)).toEqual(['mon', 'sun']);
    expect(kept({ keepMonthly: 2 }, backups)).toEqual(['mon', 'oct']);
    expect(kept({ keepMonthly: 10 }, backups)).toEqual(['mon', 'oct', 'sep']);
  });

  it('counts buckets that have backups, so a pause in backups never deletes more', () => {
    const backups = [one('today', hoursAgo(1)), one('month-ago', hoursAgo(24 * 30)), one('two-months-ago', hoursAgo(24 * 60))];
    expect(kept({ keepDaily: 2 }, backups)).toEqual(['today', 'month-ago']);
  });

  it('never deletes protected ids or the newest backup', () => {
    expect(kept({ keepLast: 1 }, series(5, 1), new Set(['b3']))).toEqual(['b0', 'b3']);
    expect(kept({ maxAgeMs: 1000 }, series(3, 1))).toEqual(['b0']);
  });

  it('says why each backup is kept', () => {
    const d = decide(series(3, 1), { keepLast: 1, keepHourly: 2 });
    expect(d[0]).toEqual({ id: 'b0', series: 'snapshot', keep: true, reasons: ['newest', 'last', 'hourly'] });
    expect(d[1]).toEqual({ id: 'b1', series: 'snapshot', keep: true, reasons: ['hourly'] });
    expect(d[2]).toEqual({ id: 'b2', series: 'snapshot', keep: false, reasons: [] });
  });
});

describe('decideRetention per series', () => {
  // Two days of hourly render listings, a week of daily snapshots (at 02:00) and four raw dumps a week apart.
  const render = series(48, 1, 'render', 'r', 0.1);
  const snapshots = Array.from({ length: 7 }, (_, i) => one(`s${i}`, new Date(Date.UTC(2026, 10, 22 - i, 2)), 'snapshot'));
  const raw = series(4, 24 * 7, 'raw', 'w', 30);
  const mixed = [...render, ...snapshots, ...raw];

  it('KEEP_LAST=3 keeps three of each series: hourly listings never push the daily snapshots out', () => {
    const d = decide(mixed, { keepLast: 3 });
    const keptIn = (name: string) => d.filter((x) => x.keep && x.series === name).map((x) => x.id);
    expect(keptIn('render')).toEqual(['r0', 'r1', 'r2']);
    expect(keptIn('snapshot')).toEqual(['s0', 's1', 's2']);
    expect(keptIn('raw')).toEqual(['w0', 'w1', 'w2']);
    expect(d.filter((x) => !x.keep)).toHaveLength(45 + 4 + 1);
    // Every decision names its series, newest first across all of them.
    expect(d.map((x) => x.series).sort()).toEqual(mixed.map((b) => b.series).sort());
    const times = d.map((x) => mixed.find((b) => nameOf(b.id) === x.id)!.createdAt.getTime());
    expect(times).toEqual([...times].sort((a, b) => b - a));
  });

  it('time buckets count within a series: keepDaily 2 keeps two days of each', () => {
    // r0..r11 fall on the 22nd, r12..r35 on the 21st; the snapshots are one a day; raw dumps are a week apart.
    expect(kept({ keepDaily: 2 }, mixed).sort()).toEqual(['r0', 'r12', 's0', 's1', 'w0', 'w1'].sort());
  });

  it('keeps the newest of every series, whatever the rules say', () => {
    const d = decide(mixed, { maxAgeMs: 1000 });
    expect(d.filter((x) => x.keep).map((x) => [x.id, x.reasons])).toEqual([
      ['r0', ['newest']],
      ['s0', ['newest']],
      ['w0', ['newest']],
    ]);
    // A series with one old backup: the rules delete nothing of it.
    const lone = [...series(5, 1), one('old-render', hoursAgo(24 * 365), 'render')];
    expect(kept({ keepLast: 1 }, lone)).toEqual(['b0', 'old-render']);
  });

  it('protects ids in any series', () => {
    expect(kept({ keepLast: 1 }, mixed, new Set(['r7', 's4'])).sort()).toEqual(['r0', 'r7', 's0', 's4', 'w0'].sort());
  });

  it('one filter series whatever the order of its resources', () => {
    const a = one('f-new', hoursAgo(1), seriesOf({ strategy: 'filter:services,deployments' }));
    const b = one('f-old', hoursAgo(2), seriesOf({ strategy: 'filter:deployments,services' }));
    const c = one('f-other', hoursAgo(3), seriesOf({ strategy: 'filter:secrets' }));
    expect(kept({ keepLast: 1 }, [a, b, c])).toEqual(['f-new', 'f-other']);
  });
});

describe('decideRetention after a clock went back', () => {
  // `ahead` was taken by a runner whose clock was a day ahead; `after` later, by a clock that is right: its id follows
  // ahead's (nextBackupId) while its createdAt is the true time.
  const ahead = one('ahead', hoursAgo(-24));
  const after = one('after', hoursAgo(0.1), 'snapshot', nextBackupId(hoursAgo(0.1), ahead.id).id);
  const before = series(3, 1);

  it('the newest is the highest id, not the latest createdAt: keepLast 1 keeps the backup written last', () => {
    expect(kept({ keepLast: 1 }, [ahead, after, ...before])).toEqual(['after']);
    expect(kept({ keepLast: 2 }, [ahead, after, ...before])).toEqual(['after', 'ahead']);
  });

  it('time buckets and max-age go by createdAt', () => {
    expect(kept({ keepDaily: 2 }, [ahead, after, ...before])).toEqual(['after', 'ahead']);
    expect(kept({ maxAgeMs: 2 * 3_600_000 }, [ahead, after, ...before])).toEqual(['after', 'ahead', 'b0', 'b1']);
  });
});

describe('decideRetention with etcd clusters', () => {
  it("counts each cluster's backups of a series on their own: the other cluster's never push them out", () => {
    const of = (cluster: string) => (r: RetentionInput) => ({ ...r, etcdClusterId: cluster });
    const first = series(4, 1, 'snapshot', 'a', 4).map(of('1'));
    const other = series(4, 1, 'snapshot', 'b').map(of('2'));
    const decisions = decide([...first, ...other], { keepLast: 2 });
    expect(decisions.filter((d) => d.keep).map((d) => [d.id, d.etcdClusterId])).toEqual([
      ['b0', '2'],
      ['b1', '2'],
      ['a0', '1'],
      ['a1', '1'],
    ]);
  });
});
