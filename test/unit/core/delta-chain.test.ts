import { describe, expect, it } from 'vitest';
import {
  TargetNotRecordedError,
  buildChains,
  parseTarget,
  resolveTarget,
  revisionObservedBy,
  validateChain,
  type ChainBase,
  type ChainSegment,
} from '../../../src/core/delta-chain.js';

const iso = (s: number) => new Date(Date.UTC(2026, 10, 22, 14, 0, s)).toISOString();
const base = (id: string, revision: number, at: number): ChainBase => ({ id: `20261122T1400${String(at).padStart(2, '0')}.000Z-${id}`, createdAt: iso(at), revision });
let n = 0;
const seg = (b: ChainBase, from: number, to: number, first?: number, last?: number, events = first === undefined ? 0 : 10): ChainSegment => ({
  id: `20261122T1401${String(n % 60).padStart(2, '0')}.${String(n++).padStart(3, '0')}Z-000000`,
  createdAt: iso(last ?? 0),
  base: b.id,
  fromRevision: from,
  toRevision: to,
  events,
  ...(first !== undefined && { firstEventAt: iso(first), lastEventAt: iso(last!) }),
});

const B1 = base('aaaaaa', 1041, 0);
const B2 = base('bbbbbb', 5310, 40);
const chain1 = [seg(B1, 1042, 2000, 1, 9), seg(B1, 2001, 3000, 11, 19), seg(B1, 3001, 5310, 21, 39)];
const chain2 = [seg(B2, 5311, 5400, 41, 45), seg(B2, 5401, 5401, 47, 47)];

describe('chain validation', () => {
  it('accepts contiguous segments from the base revision + 1, in any listing order', () => {
    const c = validateChain(B1, [...chain1].reverse());
    expect(c.problems).toEqual([]);
    expect(c.coveredTo).toBe(5310);
    expect(c.segments.map((s) => s.fromRevision)).toEqual([1042, 2001, 3001]);
  });

  it('names a gap and a wrong first segment, and stops coverage before the first problem', () => {
    const gap = validateChain(B1, [chain1[0]!, chain1[2]!]);
    expect(gap.problems).toEqual([`revisions 2001..3000 are missing between segment ${chain1[0]!.id} (ends at 2000) and segment ${chain1[2]!.id} (starts at 3001)`]);
    expect(gap.coveredTo).toBe(2000);
    expect(gap.recordedTo).toBe(5310);
    const late = validateChain(B1, [chain1[1]!]);
    expect(late.problems).toEqual([`the first segment ${chain1[1]!.id} starts at revision 2001, not at the base's revision + 1 (1042): revisions 1042..2000 are missing`]);
    expect(late.coveredTo).toBe(1041);
    const early = validateChain(B1, [seg(B1, 1041, 1050)]);
    expect(early.problems[0]).toMatch(/starts at revision 1041, at or before the base's revision 1041/);
    expect(validateChain(B1, [seg(B1, 1042, 1041)]).problems[0]).toMatch(/ends at revision 1041, before its start 1042/);
  });

  it('takes the segments of two recorders at once: a repeat is skipped, an overlap used from where the one before ends', () => {
    const repeat = seg(B1, 2001, 3000, 11, 19);
    const overlap = seg(B1, 2500, 3500, 15, 25);
    const after = seg(B1, 3501, 5310, 26, 39);
    const c = validateChain(B1, [chain1[0]!, chain1[1]!, repeat, overlap, after]);
    expect(c.problems).toEqual([]);
    expect(c.covered.map((x) => x.id)).toEqual([chain1[0]!.id, ...[chain1[1]!, repeat].sort((a, b) => (a.id < b.id ? -1 : 1)).slice(0, 1).map((x) => x.id), overlap.id, after.id]);
    expect(c.coveredTo).toBe(5310);
    expect(c.notes).toHaveLength(2);
    expect(c.notes[0]).toMatch(/repeats revisions 2001\.\.3000, which segment .* holds too \(two recorders at once\?\): skipped/);
    expect(c.notes[1]).toMatch(/starts at revision 2500, inside the revisions up to 3000 that segment .* holds \(two recorders at once\?\): used from 3001/);
  });

  it('at the edges: one revision missing, a segment past a gap, an overlap by one revision, a repeat inside the one before', () => {
    const [a, b, c] = [seg(B1, 1042, 2000), seg(B1, 2001, 3000), seg(B1, 3001, 4000)];
    // One revision missing is a gap, and nothing after a gap is covered, even what follows on from the segment past it.
    const missing = seg(B1, 2002, 3000);
    const one = validateChain(B1, [a, missing, c]);
    expect(one.problems).toEqual([`revisions 2001..2001 are missing between segment ${a.id} (ends at 2000) and segment ${missing.id} (starts at 2002)`]);
    expect(one.covered.map((x) => x.id)).toEqual([a.id]);
    expect([one.coveredTo, one.recordedTo]).toEqual([2000, 4000]);
    // An overlap that brings one revision more (3001) is used from there, not skipped as a repeat: 3001 would be lost.
    const byOne = seg(B1, 2500, 3001);
    const after = seg(B1, 3002, 4000);
    const overlap = validateChain(B1, [a, b, byOne, after]);
    expect(overlap.problems).toEqual([]);
    expect(overlap.covered.map((x) => x.id)).toEqual([a.id, b.id, byOne.id, after.id]);
    expect(overlap.notes).toEqual([expect.stringMatching(/starts at revision 2500, inside the revisions up to 3000 .*: used from 3001$/)]);
    // A repeat inside the segment before (2500..2600 within 2001..3000) moves neither the chain's end nor its record,
    // and a gap after it is named from the segment that ends last.
    const inside = seg(B1, 2500, 2600);
    const repeat = validateChain(B1, [a, b, inside]);
    expect([repeat.problems, repeat.coveredTo, repeat.recordedTo]).toEqual([[], 3000, 3000]);
    expect(validateChain(B1, [a, b, inside, c])).toMatchObject({ problems: [], coveredTo: 4000 });
    const late = seg(B1, 3500, 4000);
    expect(validateChain(B1, [a, b, inside, late]).problems).toEqual([`revisions 3001..3499 are missing between segment ${b.id} (ends at 3000) and segment ${late.id} (starts at 3500)`]);
  });

  it('groups segments by base, newest base first, and sets orphans apart', () => {
    const stray = seg(base('cccccc', 1, 0), 2, 3);
    const { chains, orphans } = buildChains([B1, B2], [...chain2, stray, ...chain1]);
    expect(chains.map((c) => [c.base.id, c.segments.length, c.coveredTo])).toEqual([
      [B2.id, 2, 5401],
      [B1.id, 3, 5310],
    ]);
    expect(orphans).toEqual([stray]);
  });
});

describe('targets', () => {
  const { chains } = buildChains([B1, B2], [...chain1, ...chain2]);

  it('refuses a time in the future, beyond a minute of clock difference', () => {
    const now = Date.parse('2026-11-22T14:00:00Z');
    expect(parseTarget('2026-11-22T14:00:59Z', now)).toEqual({ kind: 'time', at: now + 59_000 });
    expect(() => parseTarget('2027-01-01T00:00:00Z', now)).toThrow('"2027-01-01T00:00:00Z" is in the future (it is 2026-11-22T14:00:00.000Z here): for the newest state recorded, give "latest"');
  });

  it('parses latest, revisions and RFC 3339 times, and says what is wrong otherwise', () => {
    expect(parseTarget('latest')).toEqual({ kind: 'latest' });
    expect(parseTarget('5310')).toEqual({ kind: 'revision', revision: 5310 });
    expect(parseTarget('2026-11-22T14:05:00Z')).toEqual({ kind: 'time', at: Date.UTC(2026, 10, 22, 14, 5, 0) });
    expect(parseTarget('2026-11-22T16:05:00.250+02:00')).toEqual({ kind: 'time', at: Date.UTC(2026, 10, 22, 14, 5, 0, 250) });
    for (const bad of ['0', 'yesterday', '2026-11-22', '2026-11-22T14:05Z', '14:05', '-5']) expect(() => parseTarget(bad), bad).toThrow(/neither "latest", a revision|not a revision/);
    // A time without a zone (`date '+%F %T'`): the zone is named as what is missing, not the format.
    expect(parseTarget('2026-11-22 14:05:00Z')).toEqual({ kind: 'time', at: Date.UTC(2026, 10, 22, 14, 5, 0) });
    expect(() => parseTarget('2026-11-22 14:05:00')).toThrow('"2026-11-22 14:05:00" has no time zone: add Z for UTC (2026-11-22T14:05:00Z) or the offset of the zone meant (like +01:00)');
  });

  it('latest: the newest revision recorded, from the chain that reaches it', () => {
    const [r, ...rest] = resolveTarget(chains, { kind: 'latest' });
    expect([r!.chain.base.id, r!.revision, r!.segments.length]).toEqual([B2.id, 5401, 2]);
    // Then the older base, continued by the newer chain's segments (B1's chain ends at B2's base): taken when B2 is unusable.
    expect(rest.map((x) => [x.chain.base.id, x.revision, x.segments.length])).toEqual([[B1.id, 5401, 5]]);
    // From a given base: that chain's end.
    const [own] = resolveTarget(chains, { kind: 'latest' }, { baseId: B1.id });
    expect([own!.revision, own!.segments.length]).toEqual([5310, 3]);
  });

  it('a revision: the newest base at or before it whose chain covers it, and only the segments up to it', () => {
    const [r] = resolveTarget(chains, { kind: 'revision', revision: 2500 });
    expect([r!.chain.base.id, r!.revision, r!.segments.map((s) => s.fromRevision)]).toEqual([B1.id, 2500, [1042, 2001]]);
    // The base's own revision needs no segment.
    expect(resolveTarget(chains, { kind: 'revision', revision: 1041 })[0]!.segments).toEqual([]);
    // Covered by both chains (the old one ends where the new one begins): the newer first, then the older.
    expect(resolveTarget(chains, { kind: 'revision', revision: 5310 }).map((x) => [x.chain.base.id, x.segments.length])).toEqual([
      [B2.id, 0],
      [B1.id, 3],
    ]);
  });

  it('a revision beyond what was recorded, or before the base, fails naming what the store holds', () => {
    const err = (() => {
      try {
        resolveTarget(chains, { kind: 'revision', revision: 6000 });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(TargetNotRecordedError);
    expect((err as Error).message).toBe(
      `no chain of backups covers revision 6000: the store holds revisions 5310..5401 (chain ${B2.id}: base at 5310, 2 segments), 1041..5310 (chain ${B1.id}: base at 1041, 3 segments); 6000 is beyond what was recorded`,
    );
    expect(() => resolveTarget(chains, { kind: 'revision', revision: 900 })).toThrow(/900 is before the oldest full backup/);
    // A given base is continued by the chains after it, as without an id.
    expect(resolveTarget(chains, { kind: 'revision', revision: 5350 }, { baseId: B1.id }).map((x) => [x.chain.base.id, x.segments.length])).toEqual([[B1.id, 4]]);
    expect(() => resolveTarget(chains, { kind: 'revision', revision: 6000 }, { baseId: B1.id })).toThrow(/1041..5310 \(chain .*6000 is beyond what was recorded/);
    expect(() => resolveTarget(chains, { kind: 'latest' }, { baseId: 'nope' })).toThrow(/no full backup "nope" to restore from; the store holds revisions 5310..5401/);
    // A broken chain says where and why it stops.
    const broken = buildChains([B1], [chain1[0]!, chain1[2]!]).chains;
    // Before: "4000 is beyond what was recorded", though the segment after the gap holds it.
    expect(() => resolveTarget(broken, { kind: 'revision', revision: 4000 })).toThrow(
      `1041..2000 (chain ${B1.id}: base at 1041, 1 segment); 4000 was recorded (segment ${chain1[2]!.id} holds revisions 3001..5310) but lies past a gap: chain ${B1.id} stops at 2000: revisions 2001..3000 are missing between segment ${chain1[0]!.id} (ends at 2000) and segment ${chain1[2]!.id} (starts at 3001); revision 2000 (--to 2000) is the newest state before the gap, or put the missing segment back`,
    );
    expect(() => resolveTarget(broken, { kind: 'revision', revision: 2500 })).toThrow(`2500 lies in a gap of the recording: chain ${B1.id} stops at 2000: revisions 2001..3000 are missing`);
    expect(() => resolveTarget(broken, { kind: 'revision', revision: 6000 })).toThrow(/6000 is beyond what was recorded \(chain .* stops at 2000: revisions 2001..3000 are missing/);
  });

  it('a time: the last revision observed at or before it, or a segment to scan when it falls among its changes', () => {
    // Between two segments' changes (14:00:10 is after the first segment's last change, before the second's first).
    const [between] = resolveTarget(chains, { kind: 'time', at: Date.parse(iso(10)) });
    expect([between!.chain.base.id, between!.revision, between!.segments.length, between!.scan]).toEqual([B1.id, 2000, 1, undefined]);
    // Among a segment's changes: scan it.
    const [inside] = resolveTarget(chains, { kind: 'time', at: Date.parse(iso(15)) });
    expect(inside!.scan).toEqual({ segment: chain1[1], notAfter: Date.parse(iso(15)), fallback: 2000 });
    expect(inside!.segments.length).toBe(2);
    // Right at the base, before any change: the base alone.
    const [atBase] = resolveTarget(chains, { kind: 'time', at: Date.parse(iso(0)) });
    expect([atBase!.revision, atBase!.segments.length]).toEqual([1041, 0]);
    // After the newer base: that chain, and the older one as a second way (it ends where the newer begins).
    const late = resolveTarget(chains, { kind: 'time', at: Date.parse(iso(59)) });
    expect(late.map((r) => [r.chain.base.id, r.revision, r.lastObservedAt])).toEqual([
      [B2.id, 5401, iso(47)],
      [B1.id, 5310, iso(39)],
    ]);
    const before = Date.parse(iso(0)) - 1;
    expect(() => resolveTarget(chains, { kind: 'time', at: before })).toThrow(
      `nothing was recorded at or before ${new Date(before).toISOString()}: the oldest full backup is ${B1.id}, taken at ${B1.createdAt}`,
    );
  });

  it('a time after a chain was closed without changes gets the revision it was closed at', () => {
    const closed = buildChains([B1], [chain1[0]!, seg(B1, 2001, 2100)]).chains;
    const [r] = resolveTarget(closed, { kind: 'time', at: Date.parse(iso(30)) });
    expect(r!.revision).toBe(2100);
  });

  it('never gives an older state silently: latest and a time past a gap are refused, a revision before it restored', () => {
    const { chains: broken } = buildChains([B1], [chain1[0]!, chain1[2]!]);
    expect(() => resolveTarget(broken, { kind: 'latest' })).toThrow(
      /the newest change recorded is at revision 5310, but chain .* stops at 2000: revisions 2001\.\.3000 are missing .*; the newest state that can be restored is revision 2000 \(--to 2000\)/,
    );
    // A moment among the changes after the gap, and one between the last change before it and the first after it.
    expect(() => resolveTarget(broken, { kind: 'time', at: Date.parse(iso(30)) })).toThrow(/the state at .* cannot be restored: chain .* holds changes up to revision 5310, but stops at 2000/);
    expect(() => resolveTarget(broken, { kind: 'time', at: Date.parse(iso(15)) })).toThrow(/cannot be restored/);
    expect(resolveTarget(broken, { kind: 'time', at: Date.parse(iso(5)) })[0]!.scan?.segment.id).toBe(chain1[0]!.id);
    expect(resolveTarget(broken, { kind: 'revision', revision: 1500 })[0]!.revision).toBe(1500);
  });

  it('latest is refused when a chain recorded just one revision past the newest state that can be restored', () => {
    // B2's chain reaches 5401; B1's recorded up to 5402 past a gap: restoring 5401 would drop 5402's change silently.
    const { chains: past } = buildChains([B1, B2], [chain1[0]!, seg(B1, 3001, 5402), ...chain2]);
    expect(() => resolveTarget(past, { kind: 'latest' })).toThrow(/^the newest change recorded is at revision 5402, but chain .* stops at 2000: .*the newest state that can be restored is revision 5401 \(--to 5401\)/);
  });

  it('a revision past a chain goes on in the segments of the chain after it, when that one starts at its end', () => {
    // chain1 ends at 5310, B2's base; a base newer than its manifest says makes B2 unusable for 5311..: the caller
    // tries the next resolution, chain 1 through B2's segments.
    const rs = resolveTarget(chains, { kind: 'revision', revision: 5350 });
    expect(rs.map((r) => r.chain.base.id)).toEqual([B2.id, B1.id]);
    expect(rs[1]!.segments.map((s) => s.id)).toEqual([...chain1, chain2[0]!].map((s) => s.id));
    // Not across a hand-over that misses revisions.
    const { chains: apart } = buildChains([B1, B2], [chain1[0]!, ...chain2]);
    expect(resolveTarget(apart, { kind: 'revision', revision: 5350 }).map((r) => r.chain.base.id)).toEqual([B2.id]);
  });

  it('refuses a moment after a recording stopped and before the next full backup, when etcd changed meanwhile', () => {
    // The recorder of chain 1 stopped after 2000 (seen at :09); etcd made 2001..5310 unrecorded; B2 was taken at :40.
    const { chains: stopped } = buildChains([B1, B2], [chain1[0]!, ...chain2]);
    expect(() => resolveTarget(stopped, { kind: 'time', at: Date.parse(iso(20)) })).toThrow(
      /the state at .* is not known: revisions 2001\.\.5310 were not recorded .*; the nearest states recorded are revision 2000 \(--to 2000\) and revision 5310 \(--to 5310\)/,
    );
    // Closed at the next base's revision (the normal hand-over), a moment between the two is known.
    const handedOver = buildChains([B1, B2], [chain1[0]!, seg(B1, 2001, 5310, 11, 19), ...chain2]).chains;
    expect(resolveTarget(handedOver, { kind: 'time', at: Date.parse(iso(30)) })[0]!.revision).toBe(5310);
    // Full backups without any recording: a moment gets the state of the last one before it, as ever.
    const plain = buildChains([B1, B2], []).chains;
    expect(resolveTarget(plain, { kind: 'time', at: Date.parse(iso(30)) })[0]!.revision).toBe(1041);
  });

  it('scans a segment: the revision of the last change observed by then', () => {
    const events = [
      { modRevision: 2001, observedAt: 10 },
      { modRevision: 2002, observedAt: 12 },
      { modRevision: 2002, observedAt: 12 },
      { modRevision: 2005, observedAt: 15 },
    ];
    expect(revisionObservedBy(events, 9, 2000)).toBe(2000);
    expect(revisionObservedBy(events, 12, 2000)).toBe(2002);
    expect(revisionObservedBy(events, 14, 2000)).toBe(2002);
    expect(revisionObservedBy(events, 99, 2000)).toBe(2005);
  });
});
