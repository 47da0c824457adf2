import { describe, expect, it } from 'vitest';
import { decideRetention, type RetentionRules } from '../../../src/core/retention.js';

const now = new Date('2026-11-22T12:00:00Z');
const hoursAgo = (h: number) => new Date(now.getTime() - h * 3_600_000);
/** Backups every `stepHours` hours for `count` steps, newest first, ids b0 (newest), b1, ... */
const series = (count: number, stepHours: number) =>
  Array.from({ length: count }, (_, i) => ({ id: `b${i}`, createdAt: hoursAgo(i * stepHours + 0.25) }));
const kept = (rules: RetentionRules, backups = series(48, 1), protect?: Set<string>) =>
  decideRetention(backups, rules, now, protect).filter((d) => d.keep).map((d) => d.id);

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
      { id: 'mon', createdAt: new Date('2026-11-16T01:00:00Z') }, // week 47
      { id: 'sun', createdAt: new Date('2026-11-15T23:00:00Z') }, // week 46
      { id: 'sat', createdAt: new Date('2026-11-14T23:00:00Z') }, // week 46
      { id: 'oct', createdAt: new Date('2026-10-31T23:59:59Z') },
      { id: 'sep', createdAt: new Date('2026-09-01T00:00:00Z') },
    ];
    expect(kept({ keepWeekly: 2 }, backups)).toEqual(['mon', 'sun']);
    expect(kept({ keepMonthly: 2 }, backups)).toEqual(['mon', 'oct']);
    expect(kept({ keepMonthly: 10 }, backups)).toEqual(['mon', 'oct', 'sep']);
  });

  it('counts buckets that have backups, so a pause in backups never deletes more', () => {
    const backups = [
      { id: 'today', createdAt: hoursAgo(1) },
      { id: 'month-ago', createdAt: hoursAgo(24 * 30) },
      { id: 'two-months-ago', createdAt: hoursAgo(24 * 60) },
    ];
    expect(kept({ keepDaily: 2 }, backups)).toEqual(['today', 'month-ago']);
  });

  it('never deletes protected ids or the newest backup', () => {
    expect(kept({ keepLast: 1 }, series(5, 1), new Set(['b3']))).toEqual(['b0', 'b3']);
    expect(kept({ maxAgeMs: 1000 }, series(3, 1))).toEqual(['b0']);
  });

  it('says why each backup is kept', () => {
    const d = decideRetention(series(3, 1), { keepLast: 1, keepHourly: 2 }, now);
    expect(d[0]).toEqual({ id: 'b0', keep: true, reasons: ['newest', 'last', 'hourly'] });
    expect(d[1]).toEqual({ id: 'b1', keep: true, reasons: ['hourly'] });
    expect(d[2]).toEqual({ id: 'b2', keep: false, reasons: [] });
  });
});
