import { describe, expect, it } from 'vitest';
import { chainUnits, withSegments } from '../../../src/core/chain-units.js';

const NOW = new Date('2026-12-04T12:00:00.000Z');
const full = (id: string, createdAt: string, contentType = 'etcd-snapshot', strategy = 'snapshot') => ({ id, createdAt, strategy, contentType, etcd: { apiVersion: 'v3' } });
const seg = (id: string, createdAt: string, base: string) => ({ id, createdAt, strategy: 'delta', contentType: 'delta-events', etcd: { apiVersion: 'v3' }, base });

describe('chainUnits', () => {
  const backups = [
    full('b1', '2026-12-04T08:00:00.000Z'),
    seg('s1b', '2026-12-04T08:00:20.000Z', 'b1'),
    seg('s1a', '2026-12-04T08:00:10.000Z', 'b1'),
    full('b2', '2026-12-04T10:00:00.000Z'),
    full('r3', '2026-12-04T11:00:00.000Z', 'jsonl', 'render'),
    seg('s2', '2026-12-04T10:00:10.000Z', 'b2'),
    seg('gone-old', '2026-12-04T09:00:00.000Z', 'b0'),
    seg('gone-young', '2026-12-04T11:30:00.000Z', 'b0'),
  ];
  it('groups segments under their full backup, oldest first; the newest chain base is the newest snapshot or key dump', () => {
    const u = chainUnits(backups, NOW);
    expect(u.full.map((m) => m.id)).toEqual(['b1', 'b2', 'r3']);
    expect(u.segments.get('b1')!.map((m) => m.id)).toEqual(['s1a', 's1b']);
    expect(u.newestBase).toBe('b2');
    // A segment whose base is gone is removed only once an hour old (its base may be being written).
    expect(u.orphanSegments.map((m) => m.id)).toEqual(['gone-old']);
  });
  it('gives segments the decision of their full backup', () => {
    const u = chainUnits(backups, NOW);
    const d = withSegments([{ id: 'b1', series: 'snapshot', keep: false, reasons: [] }, { id: 'b2', series: 'snapshot', keep: true, reasons: ['newest'] }], u);
    expect(d.map((x) => [x.id, x.keep, x.reasons.join()])).toEqual([
      ['b1', false, ''], ['s1a', false, ''], ['s1b', false, ''], ['b2', true, 'newest'], ['s2', true, 'chain of b2'], ['gone-old', false, ''],
    ]);
  });
  it('names, per series, the base whose chain holds the newest segment, though a newer backup of another job is in that series', () => {
    const u = chainUnits([
      full('f1', '2026-12-04T08:00:00.000Z', 'tar', 'filter:secrets'),
      seg('f1s', '2026-12-04T10:30:00.000Z', 'f1'),
      full('f2', '2026-12-04T10:00:00.000Z', 'tar', 'filter:secrets'),
      full('b1', '2026-12-04T08:00:00.000Z'),
      seg('b1s', '2026-12-04T08:10:00.000Z', 'b1'),
      full('b2', '2026-12-04T09:00:00.000Z'),
      seg('b2s', '2026-12-04T09:10:00.000Z', 'b2'),
    ], NOW);
    expect([...u.recordedBases].sort()).toEqual(['b2', 'f1']);
  });
  it('the newest chain base is by id, of a v3 etcd; a segment whose base is gone is removed once it is an hour old', () => {
    const u = chainUnits([
      // Taken by a clock a day ahead: stamped later, written before 20261204T09.
      full('20261204T080000.000Z-ahead', '2026-12-05T08:00:00.000Z'),
      full('20261204T090000.000Z-newest', '2026-12-04T09:00:00.000Z'),
      // A key dump of a v2 etcd, newer still: no chain is recorded onto one.
      { ...full('20261204T100000.000Z-v2', '2026-12-04T10:00:00.000Z', 'tar', 'raw'), etcd: { apiVersion: 'v2' } },
      seg('hour-old', '2026-12-04T11:00:00.000Z', 'gone'),
      seg('younger', '2026-12-04T11:00:00.001Z', 'gone'),
    ], NOW);
    expect(u.newestBase).toBe('20261204T090000.000Z-newest');
    expect(u.orphanSegments.map((m) => m.id)).toEqual(['hour-old']);
  });
});
