import { describe, expect, it } from 'vitest';
import { evaluateHealth, type HealthInput } from '../../../src/core/health.js';

const t = (hhmm: string) => new Date(`2026-11-22T${hhmm}:00.000Z`);
const base: HealthInput = { now: t('10:30'), startedAt: t('09:55'), dueRuns: [] };

describe('evaluateHealth', () => {
  it('is healthy before any backup is due', () => {
    const r = evaluateHealth({ ...base, nextRun: t('11:00') });
    expect(r).toMatchObject({ healthy: true, status: 'ok', reason: 'no backup is due yet', nextRunAt: t('11:00').toISOString() });
  });

  it('is healthy while the first backup runs, stale once a second run came due without a success', () => {
    expect(evaluateHealth({ ...base, dueRuns: [t('10:00')] })).toMatchObject({ healthy: true, reason: 'the first backup has not completed yet' });
    const r = evaluateHealth({ ...base, now: t('11:01'), dueRuns: [t('10:00'), t('11:00')] });
    expect(r).toMatchObject({ healthy: false, status: 'stale' });
    expect(r.reason).toBe('no backup succeeded in the 2 scheduled runs since the start at 2026-11-22T09:55:00.000Z');
  });

  it('is healthy while the last backup succeeded', () => {
    const r = evaluateHealth({ ...base, lastSuccessAt: t('10:01'), dueRuns: [t('10:00')] });
    expect(r).toMatchObject({ healthy: true, status: 'ok', lastSuccessAt: t('10:01').toISOString() });
    expect(r.reason).toContain('succeeded at 2026-11-22T10:01:00.000Z');
  });

  it('fails when the last backup failed, with the reason', () => {
    const r = evaluateHealth({
      ...base,
      lastSuccessAt: t('09:01'),
      lastFailure: { at: t('10:02'), reason: 'etcd unreachable' },
      dueRuns: [t('10:00')],
    });
    expect(r).toMatchObject({ healthy: false, status: 'failing', reason: 'the last backup failed: etcd unreachable' });
    expect(r.lastFailureAt).toBe(t('10:02').toISOString());
  });

  it('recovers when a backup succeeds after a failure', () => {
    const r = evaluateHealth({
      ...base,
      now: t('11:05'),
      lastSuccessAt: t('11:01'),
      lastFailure: { at: t('10:02'), reason: 'x' },
      dueRuns: [t('10:00'), t('11:00')],
    });
    expect(r.healthy).toBe(true);
  });

  it('goes stale when a backup hangs across two scheduled runs after the last success', () => {
    const ok = { ...base, lastSuccessAt: t('10:01'), dueRuns: [t('10:00'), t('11:00')] };
    expect(evaluateHealth({ ...ok, now: t('11:30') }).healthy).toBe(true);
    const r = evaluateHealth({ ...ok, now: t('12:00'), dueRuns: [...ok.dueRuns, t('12:00')] });
    expect(r).toMatchObject({ healthy: false, status: 'stale' });
    expect(r.reason).toContain('since the last success at 2026-11-22T10:01:00.000Z');
  });

  it('counts runs, not elapsed time: a weekday schedule is not stale over the weekend', () => {
    const fri = new Date('2026-11-20T09:01:00Z');
    const mon = new Date('2026-11-23T08:00:00Z');
    expect(evaluateHealth({ now: mon, startedAt: fri, lastSuccessAt: fri, dueRuns: [new Date('2026-11-20T09:00:00Z')] }).healthy).toBe(true);
  });
});
