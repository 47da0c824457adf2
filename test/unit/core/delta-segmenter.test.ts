import { describe, expect, it } from 'vitest';
import { eventBytes, type DeltaBatch, type DeltaEvent } from '../../../src/core/delta-event.js';
import { Segmenter, type SegmentCut } from '../../../src/core/delta-segmenter.js';

const T0 = 1_000_000;
const ev = (rev: number, key = `k${rev}`, size = 10, at = T0): DeltaEvent => ({
  type: 'put',
  key: Buffer.from(key),
  value: Buffer.alloc(size),
  createRevision: rev,
  modRevision: rev,
  version: 1,
  observedAt: at,
});
const batch = (events: DeltaEvent[], through = events[events.length - 1]?.modRevision ?? 0, receivedAt = T0): DeltaBatch => ({ events, through, receivedAt });
const range = (c: SegmentCut | undefined) => (c ? [c.fromRevision, c.toRevision, c.events.length, c.reason] : undefined);

describe('segmenter', () => {
  const seg = (maxBytes = 1 << 20) => new Segmenter({ fromRevision: 101, intervalMs: 2000, maxBytes, startedAt: T0 });

  it('cuts at the end of each interval that saw changes, contiguous from the base revision + 1', () => {
    const s = seg();
    expect(s.add(batch([ev(101), ev(102)]))).toEqual([]);
    expect(s.tick(T0 + 1999)).toBeUndefined();
    expect(range(s.tick(T0 + 2000))).toEqual([101, 102, 2, 'interval']);
    // An interval with no changes writes nothing...
    expect(s.tick(T0 + 4000)).toBeUndefined();
    // ...even though the recording went on (a batch complete through 150 without changes of the watched keys).
    s.add(batch([], 150));
    expect(s.tick(T0 + 6000)).toBeUndefined();
    s.add(batch([ev(151)]));
    // The next segment starts right after the previous one and ends where the recording is complete.
    s.add(batch([], 160));
    expect(range(s.tick(T0 + 8000))).toEqual([103, 160, 1, 'interval']);
    expect(s.nextTickAt()).toBe(T0 + 10000);
  });

  it('keeps a fixed cadence: a late tick cuts once and the next interval ends on the grid', () => {
    const s = seg();
    s.add(batch([ev(101)]));
    expect(range(s.tick(T0 + 7100))).toEqual([101, 101, 1, 'interval']);
    expect(s.nextTickAt()).toBe(T0 + 8000);
  });

  it('cuts early at the byte limit, between revisions only, and never splits a transaction', () => {
    const per = eventBytes(ev(0));
    const s = seg(per * 2.5);
    // Revision 102 is a transaction of two keys: it stays whole.
    const cuts = s.add(batch([ev(101), ev(102, 'a'), ev(102, 'b'), ev(103), ev(104)]));
    expect(cuts.map(range)).toEqual([
      [101, 101, 1, 'size'],
      [102, 102, 2, 'size'],
    ]);
    expect(s.pendingEvents).toBe(2);
    expect(range(s.flush())).toEqual([103, 104, 2, 'stop']);
    expect(s.flush()).toBeUndefined();
  });

  it('cuts when the changes waiting reach the limit exactly, with the revision that reaches it', () => {
    const per = eventBytes(ev(101));
    const s = seg(per * 2);
    // Not left waiting for a change that would pass it.
    expect(s.add(batch([ev(101), ev(102)])).map(range)).toEqual([[101, 102, 2, 'size']]);
    expect(s.pendingEvents).toBe(0);
    expect(s.add(batch([ev(103)])).map(range)).toEqual([]);
  });

  it('makes a segment of its own of a revision bigger than the limit', () => {
    const s = seg(4000);
    const big = [ev(102, 'a', 5000), ev(102, 'b', 5000)];
    expect(s.add(batch([ev(101, 'x', 1)]))).toEqual([]);
    expect(s.add(batch(big)).map(range)).toEqual([
      [101, 101, 1, 'size'],
      [102, 102, 2, 'size'],
    ]);
    expect(s.pendingEvents).toBe(0);
  });

  it('closes the chain at exactly a revision, with an empty segment when nothing waits', () => {
    const s = seg();
    s.add(batch([ev(101)]));
    expect(range(s.tick(T0 + 2000))).toEqual([101, 101, 1, 'interval']);
    s.add(batch([], 140));
    expect(range(s.close(140))).toEqual([102, 140, 0, 'close']);
    // Already closed there.
    expect(s.close(140)).toBeUndefined();
    // Closed at the one revision it starts with: a segment of that revision alone, without changes.
    const one = seg();
    one.add(batch([], 101));
    expect(range(one.close(101))).toEqual([101, 101, 0, 'close']);
    const t = seg();
    t.add(batch([ev(101), ev(105)], 110));
    // The recording went past the revision (no change after it yet): the chain still ends exactly there.
    expect(range(t.close(107))).toEqual([101, 107, 2, 'close']);
  });

  it('refuses what would make the chain wrong: changes out of order, behind it, or a close it cannot honour', () => {
    const s = seg();
    s.add(batch([ev(101), ev(103)]));
    expect(() => s.add(batch([ev(102)], 110))).toThrow(/already complete through \(103\)/);
    // A revision a batch before held already: a transaction split across two batches would be split across segments.
    expect(() => s.add(batch([ev(103, 'other')], 110))).toThrow(/change at revision 103, which the segments are already complete through \(103\)/);
    expect(() => s.add(batch([ev(105), ev(104)]))).toThrow(/revision 104 after one at 105/);
    expect(() => s.add(batch([], 100))).toThrow(/through revision 100 after one through 103/);
    expect(() => s.close(150)).toThrow(/complete through 103 only/);
    expect(() => seg().add(batch([ev(120)], 110))).toThrow(/through revision 110 holds a change at 120/);
    const t = seg();
    t.add(batch([ev(101), ev(105)], 110));
    expect(() => t.close(104)).toThrow(/holds a change at 105/);
  });

  it('tells the oldest change waiting, for the lag', () => {
    const s = seg();
    expect(s.oldestPendingAt).toBeUndefined();
    s.add(batch([ev(101, 'a', 1, T0 + 5), ev(102, 'b', 1, T0 + 9)]));
    expect(s.oldestPendingAt).toBe(T0 + 5);
    expect(s.bytesPending).toBe(eventBytes(ev(101, 'a', 1)) + eventBytes(ev(102, 'b', 1)));
  });
});

describe('Segmenter.closeDropping', () => {
  const ev = (rev: number) => ({ type: 'put' as const, key: Buffer.from(`k${rev}`), value: Buffer.from('v'), createRevision: rev, modRevision: rev, version: 1, observedAt: 1000 + rev });
  it('ends the chain at a revision the recording has passed, dropping the changes after it', () => {
    const s = new Segmenter({ fromRevision: 11, intervalMs: 1000, maxBytes: 1 << 20, startedAt: 0 });
    s.add({ events: [ev(11), ev(12), ev(15)], through: 16, receivedAt: 0 });
    const cut = s.closeDropping(13)!;
    expect(cut).toMatchObject({ fromRevision: 11, toRevision: 13, reason: 'close' });
    expect(cut.events.map((e) => e.modRevision)).toEqual([11, 12]);
    expect(s.pendingEvents).toBe(0);
    // Complete through the revision it ended at, no further: the changes after it were dropped.
    expect(s.through).toBe(13);
    // The change at exactly that revision is kept.
    const t = new Segmenter({ fromRevision: 11, intervalMs: 1000, maxBytes: 1 << 20, startedAt: 0 });
    t.add({ events: [ev(11), ev(12), ev(15)], through: 16, receivedAt: 0 });
    expect(t.closeDropping(12)!.events.map((e) => e.modRevision)).toEqual([11, 12]);
  });
  it('cuts nothing when segments already reach past the revision; waits like close when the recording is behind', () => {
    const s = new Segmenter({ fromRevision: 11, intervalMs: 1000, maxBytes: 1 << 20, startedAt: 0 });
    s.add({ events: [ev(11), ev(14)], through: 14, receivedAt: 0 });
    expect(s.tick(1000)!.toRevision).toBe(14);
    expect(s.closeDropping(12)).toBeUndefined();
    expect(() => s.closeDropping(20)).toThrow(/complete through 14 only/);
    // One revision past what was recorded is not recorded either.
    expect(() => s.closeDropping(15)).toThrow(/complete through 14 only/);
  });
});
