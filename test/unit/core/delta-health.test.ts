import { describe, expect, it } from 'vitest';
import { deltaHealth, type HealthReport } from '../../../src/core/health.js';

const ok: HealthReport = { healthy: true, status: 'ok', reason: 'no backup is due yet' };
const T = Date.parse('2026-12-04T10:00:00.000Z');

describe('deltaHealth', () => {
  it('stays healthy while the watch receives, and for up to 3 intervals without it', () => {
    expect(deltaHealth(ok, { lastRevision: 7 }, 2000, T)).toEqual({ ...ok, delta: { watching: true, lastRevision: 7 } });
    expect(deltaHealth(ok, { downSince: T - 6000 }, 2000, T).healthy).toBe(true);
  });
  it('fails once the watch has been down for more than 3 intervals, saying since when', () => {
    const r = deltaHealth(ok, { downSince: T - 6001 }, 2000, T);
    expect(r).toMatchObject({ healthy: false, status: 'failing', delta: { watching: false, downSince: '2026-12-04T09:59:53.999Z' } });
    expect(r.reason).toBe('the watch of changes for continuous backups has been down since 2026-12-04T09:59:53.999Z (more than 3 intervals of 2s)');
  });
  it('says why the watch is down when etcd told more than a dropped connection (a lost quorum)', () => {
    const r = deltaHealth(ok, { downSince: T - 6001, downBecause: 'etcd has lost its quorum: 1 of 3 members answer' }, 2000, T);
    expect(r.reason).toBe('the watch of changes for continuous backups has been down since 2026-12-04T09:59:53.999Z (more than 3 intervals of 2s): etcd has lost its quorum: 1 of 3 members answer');
  });
  it('fails once changes received more than max(3 intervals, 5 minutes) ago are still not stored (the store failing)', () => {
    expect(deltaHealth(ok, { oldestPendingAt: T - 300_000 }, 2000, T).healthy).toBe(true);
    const r = deltaHealth(ok, { oldestPendingAt: T - 300_001, lastRevision: 9 }, 2000, T);
    expect(r).toMatchObject({ healthy: false, status: 'failing', delta: { watching: true, lastRevision: 9, oldestUnstoredAt: '2026-12-04T09:54:59.999Z' } });
    expect(r.reason).toBe('changes received since 2026-12-04T09:54:59.999Z are not in the store yet (more than 5 minutes): storing delta segments is failing');
    // With a long interval, 3 of them.
    expect(deltaHealth(ok, { oldestPendingAt: T - 350_000 }, 120_000, T).healthy).toBe(true);
    expect(deltaHealth(ok, { oldestPendingAt: T - 360_001 }, 120_000, T).healthy).toBe(false);
  });
  it('stays healthy while the first full backup, which the watch waits for, runs longer than 3 intervals, saying so', () => {
    const r = deltaHealth(ok, { downSince: T - 60_000, firstBaseSince: T - 59_000 }, 2000, T);
    expect(r).toEqual({
      ...ok,
      reason: 'first full backup in progress since 2026-12-04T09:59:01.000Z: the watch of changes for continuous backups starts once it is stored',
      delta: { watching: false, downSince: '2026-12-04T09:59:00.000Z', firstFullBackupSince: '2026-12-04T09:59:01.000Z' },
    });
    // Once it has failed, the backup's failure is the reason.
    const failing: HealthReport = { healthy: false, status: 'failing', reason: 'the last backup failed: x' };
    expect(deltaHealth(failing, { downSince: T - 60_000, firstBaseSince: T - 1000 }, 2000, T)).toMatchObject({ healthy: false, reason: 'the last backup failed: x' });
  });
  it('keeps the reason of a backup that failed', () => {
    const failing: HealthReport = { healthy: false, status: 'failing', reason: 'the last backup failed: x' };
    expect(deltaHealth(failing, { downSince: T - 60_000 }, 2000, T).reason).toBe('the last backup failed: x');
  });
});
