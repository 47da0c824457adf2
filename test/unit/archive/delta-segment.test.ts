import { execFileSync } from 'node:child_process';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { SEGMENT_END_ENTRY, SEGMENT_HEADER_ENTRY, eventEntryNames } from '../../../src/archive/delta-segment-format.js';
import { DeltaSegmentCheck, readDeltaSegment, type SegmentExpectations, type SegmentItem } from '../../../src/archive/delta-segment-reader.js';
import { DeltaSegmentWriter, segmentStream, type SegmentStart } from '../../../src/archive/delta-segment-writer.js';
import { tarEnd, tarEntry } from '../../../src/archive/tar.js';
import type { DeltaEvent } from '../../../src/core/delta-event.js';
import { IntegrityError } from '../../../src/core/errors.js';

const START: SegmentStart = {
  cluster: 'prod',
  base: '20260101T000000.000Z-abcdef',
  baseRevision: 100,
  fromRevision: 101,
  createdAt: '2026-01-01T00:00:10.000Z',
};
const T0 = Date.parse('2026-01-01T00:00:01.000Z');

const put = (key: string | Buffer, rev: number, value: string | Buffer, extra: Partial<DeltaEvent> = {}): DeltaEvent => ({
  type: 'put',
  key: typeof key === 'string' ? Buffer.from(key) : key,
  value: typeof value === 'string' ? Buffer.from(value) : value,
  createRevision: rev,
  modRevision: rev,
  version: 1,
  observedAt: T0 + rev,
  ...extra,
});
const del = (key: string, rev: number, at = T0 + rev): DeltaEvent => ({
  type: 'delete',
  key: Buffer.from(key),
  value: Buffer.alloc(0),
  createRevision: 0,
  modRevision: rev,
  version: 0,
  observedAt: at,
});

const EVENTS: DeltaEvent[] = [
  put('/registry/configmaps/default/ünïcødé-名前', 101, 'k8s\0abc'),
  // One transaction: two keys at one revision.
  put('/registry/configmaps/default/a', 103, 'a', { createRevision: 90, version: 4 }),
  put(Buffer.concat([Buffer.from('/registry/bin-'), Buffer.from([0x00, 0xff, 0x80])]), 103, Buffer.from([0, 1, 255])),
  put('/registry/events/default/e1', 104, '{"kind":"Event"}', { lease: '7587862072908627204', ttl: 3500, grantedTtl: 3600 }),
  del('/registry/configmaps/default/a', 105),
  put('/registry/configmaps/default/big', 107, Buffer.alloc(1_400_000, 'x')),
  put('/registry/configmaps/default/empty', 108, ''),
];

function segment(events: DeltaEvent[] = EVENTS, to = 110, start: SegmentStart = START): Buffer {
  const w = new DeltaSegmentWriter(start);
  return Buffer.concat([w.header(), w.eventsOf(events.slice(0, 3)), w.eventsOf(events.slice(3)), w.end(to)]);
}

async function readAll(bytes: Buffer, chunk = 65536, expect: SegmentExpectations = {}): Promise<SegmentItem[]> {
  const pieces: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunk) pieces.push(bytes.subarray(i, i + chunk));
  const out: SegmentItem[] = [];
  for await (const item of readDeltaSegment(Readable.from(pieces), expect)) out.push(item);
  return out;
}

async function check(bytes: Buffer, expect: SegmentExpectations = {}): Promise<void> {
  await pipeline(Readable.from([bytes]), new DeltaSegmentCheck(expect), new Writable({ write: (_c, _e, cb) => cb() }));
}

/** A segment written entry by entry, to say anything a hostile or damaged file could. */
function handMade(entries: Array<[string, unknown]>, opts: { end?: boolean } = {}): Buffer {
  const mtime = 1_767_225_600;
  const parts: Buffer[] = [];
  for (const [name, body] of entries) {
    // Values as given; JSON entries as a line.
    const data = Buffer.isBuffer(body) ? body : name.endsWith('.value') ? Buffer.from(String(body)) : Buffer.from(`${typeof body === 'string' ? body : JSON.stringify(body)}\n`);
    parts.push(...tarEntry(name, data, mtime));
  }
  if (opts.end !== false) parts.push(tarEnd());
  return Buffer.concat(parts);
}

const HEADER_JSON = { format: 'reshifter-delta-segment', version: 1, ...START };
const meta = (n: number, over: Record<string, unknown> = {}) => ({
  n,
  type: 'put',
  keyBase64: Buffer.from(`k${n}`).toString('base64'),
  valueSize: 1,
  createRevision: 101,
  modRevision: 101,
  version: 1,
  observedAt: '2026-01-01T00:00:01.000Z',
  ...over,
});

describe('delta segment format', () => {
  it('round-trips puts and deletes with binary-safe keys and values, revisions, leases and observation times', async () => {
    for (const chunk of [1000, 511, 65536, 1 << 22]) {
      const items = await readAll(segment(), chunk);
      expect(items[0]).toEqual({ type: 'header', header: { format: 'reshifter-delta-segment', version: 1, ...START } });
      const events = items.filter((i) => i.type === 'event').map((i) => i.event);
      expect(events).toHaveLength(EVENTS.length);
      events.forEach((e, i) => {
        expect(e.key.equals(EVENTS[i]!.key)).toBe(true);
        expect(e.value.equals(EVENTS[i]!.value)).toBe(true);
        expect({ ...e, key: 0, value: 0 }).toEqual({ ...EVENTS[i], key: 0, value: 0 });
      });
      expect(items[items.length - 1]).toEqual({
        type: 'end',
        end: {
          events: 7,
          puts: 6,
          deletes: 1,
          valueBytes: EVENTS.reduce((n, e) => n + e.value.length, 0),
          fromRevision: 101,
          toRevision: 110,
          firstEventAt: new Date(T0 + 101).toISOString(),
          lastEventAt: new Date(T0 + 108).toISOString(),
        },
      });
    }
  });

  it('is an ordinary tar: tar lists it, and the changes come out as JSON lines', () => {
    const gz = gzipSync(segment());
    const names = execFileSync('tar', ['-tzf', '-'], { input: gz }).toString().trim().split('\n');
    expect(names[0]).toBe(SEGMENT_HEADER_ENTRY);
    expect(names[names.length - 1]).toBe(SEGMENT_END_ENTRY);
    // A delete has no value entry.
    expect(names).toContain('events/000000004.value');
    expect(names).not.toContain('events/000000005.value');
    const lines = execFileSync('tar', ['-xOzf', '-', '--wildcards', 'events/*.json'], { input: gz }).toString().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l.type)).toEqual(['put', 'put', 'put', 'put', 'delete', 'put', 'put']);
    expect(lines[3]).toMatchObject({ lease: '7587862072908627204', ttl: 3500, grantedTtl: 3600, modRevision: 104 });
    expect(lines[2]!.key).toBeUndefined();
  });

  it('holds a segment without changes (a chain closed at a revision), and a stream of one', async () => {
    const items = await readAll(segment([], 120));
    expect(items.map((i) => i.type)).toEqual(['header', 'end']);
    expect(items[1]).toMatchObject({ end: { events: 0, fromRevision: 101, toRevision: 120 } });
    const w = new DeltaSegmentWriter(START);
    const chunks: Buffer[] = [];
    for await (const c of segmentStream(w, EVENTS, 110)) chunks.push(c as Buffer);
    expect(Buffer.concat(chunks).equals(segment())).toBe(true);
    expect([w.events, w.puts, w.deletes]).toEqual([7, 6, 1]);
  });

  it('checks the segment against what its manifest says', async () => {
    await check(segment(), { cluster: 'prod', base: START.base, fromRevision: 101, toRevision: 110, events: 7 });
    await expect(check(segment(), { base: '20260101T000000.000Z-000000' })).rejects.toThrow(/continues backup 20260101T000000.000Z-abcdef, its manifest says 20260101T000000.000Z-000000/);
    await expect(check(segment(), { toRevision: 111 })).rejects.toThrow(/ends at revision 110, its manifest says 111/);
    await expect(check(segment(), { events: 8 })).rejects.toThrow(/holds 7 changes, its manifest says 8/);
    await expect(check(segment(), { fromRevision: 100 })).rejects.toThrow(/starts at revision 101, its manifest says 100/);
  });

  it('detects a segment cut short anywhere', async () => {
    const whole = segment();
    for (const cut of [0, 100, 512, 1024, 3000, whole.length - 1024 - 512, whole.length - 1024, whole.length - 1]) {
      const err = await check(whole.subarray(0, cut)).catch((e: unknown) => e);
      expect(err, `cut at ${cut}`).toBeInstanceOf(IntegrityError);
      expect((err as Error).message).toMatch(/empty|cut short|missing/);
    }
  });

  it('refuses changes out of order, outside the range, twice at one revision, or observed back in time', async () => {
    const cases: Array<[Array<[string, unknown]>, RegExp]> = [
      [[[eventEntryNames(1).meta, meta(1, { modRevision: 100, createRevision: 100 })]], /at revision 100, before the segment's first revision 101/],
      [
        [
          [eventEntryNames(1).meta, meta(1, { modRevision: 105, createRevision: 105 })],
          [eventEntryNames(1).value, 'x'],
          [eventEntryNames(2).meta, meta(2, { modRevision: 104, createRevision: 104 })],
        ],
        /at revision 104, after a change at revision 105/,
      ],
      [
        [
          [eventEntryNames(1).meta, meta(1)],
          [eventEntryNames(1).value, 'x'],
          [eventEntryNames(2).meta, meta(2, { keyBase64: Buffer.from('k1').toString('base64') })],
        ],
        /changes key "k1" a second time at revision 101/,
      ],
      [
        [
          [eventEntryNames(1).meta, meta(1, { observedAt: '2026-01-01T00:00:02.000Z' })],
          [eventEntryNames(1).value, 'x'],
          [eventEntryNames(2).meta, meta(2, { modRevision: 102, createRevision: 102 })],
        ],
        /observed at 2026-01-01T00:00:01.000Z, before the change ahead of it/,
      ],
    ];
    for (const [entries, why] of cases) {
      await expect(check(handMade([[SEGMENT_HEADER_ENTRY, HEADER_JSON], ...entries]))).rejects.toThrow(why);
    }
    // A change after the end's toRevision.
    const end = { events: 1, puts: 1, deletes: 0, valueBytes: 1, fromRevision: 101, toRevision: 101, firstEventAt: '2026-01-01T00:00:01.000Z', lastEventAt: '2026-01-01T00:00:01.000Z' };
    const late = [[eventEntryNames(1).meta, meta(1, { modRevision: 102, createRevision: 102 })], [eventEntryNames(1).value, 'x']] as Array<[string, unknown]>;
    await expect(check(handMade([[SEGMENT_HEADER_ENTRY, HEADER_JSON], ...late, [SEGMENT_END_ENTRY, end]]))).rejects.toThrow(/ends the segment at revision 101, before its change at 102/);
  });

  it('refuses malformed changes, counts and headers with a message naming what is wrong', async () => {
    const one = (over: Record<string, unknown>, value?: string): Array<[string, unknown]> => [
      [eventEntryNames(1).meta, meta(1, over)],
      ...(value !== undefined ? ([[eventEntryNames(1).value, value]] as Array<[string, unknown]>) : []),
    ];
    const cases: Array<[Array<[string, unknown]>, RegExp]> = [
      [one({ type: 'merge' }), /neither put nor delete/],
      [one({ type: 'delete', valueSize: 0, createRevision: 0, version: 0, lease: '5' }), /delete with a value, a lease/],
      [one({ type: 'delete', valueSize: 3, createRevision: 0, version: 0 }), /delete with a value/],
      [one({ version: 0 }), /put whose createRevision, modRevision and version do not fit/],
      [one({ createRevision: 102 }), /put whose createRevision, modRevision and version do not fit/],
      [one({ lease: '0' }), /"lease" is not a lease id/],
      [one({ ttl: 30 }), /"ttl" is not a count of seconds of its lease/],
      [one({ observedAt: 'yesterday' }), /no valid "observedAt"/],
      [one({ valueSize: 2 ** 40 }), /more than the \d+ a segment may hold/],
      [one({ n: 7 }), /says it is change 7, expected 1/],
      [one({ key: 'other' }), /"key" and "keyBase64" differ/],
      [one({}, 'xy'), /claims 2 bytes, more than the 1 allowed/],
      [one({ valueSize: 2 }, 'x'), /is 1 bytes, its change entry says 2/],
      [[[eventEntryNames(2).meta, meta(2)]], /expected events\/000000001.json or reshifter-delta-end.json, found events\/000000002.json/],
    ];
    for (const [entries, why] of cases) {
      await expect(check(handMade([[SEGMENT_HEADER_ENTRY, HEADER_JSON], ...entries]))).rejects.toThrow(why);
    }
    await expect(check(handMade([['reshifter-dump.json', {}]]))).rejects.toThrow(/first entry is reshifter-dump.json, not reshifter-delta.json/);
    // A version above this one's is a newer reshifter's, said so; any other is damage.
    await expect(check(handMade([[SEGMENT_HEADER_ENTRY, { ...HEADER_JSON, version: 2 }]]))).rejects.toThrow(/version 2, written by a newer reshifter \(this one reads version 1\): upgrade reshifter to read it/);
    await expect(check(handMade([[SEGMENT_HEADER_ENTRY, { ...HEADER_JSON, version: '1' }]]))).rejects.toThrow(/is version "1"; this reshifter reads version 1$/);
    await expect(check(handMade([[SEGMENT_HEADER_ENTRY, { ...HEADER_JSON, fromRevision: 100 }]]))).rejects.toThrow(/no fromRevision after the base revision/);
    await expect(check(handMade([[SEGMENT_HEADER_ENTRY, { ...HEADER_JSON, base: '../x' }]]))).rejects.toThrow(/names no base backup id/);
    const badEnd = { events: 2, puts: 0, deletes: 0, valueBytes: 0, fromRevision: 101, toRevision: 101 };
    await expect(check(handMade([[SEGMENT_HEADER_ENTRY, HEADER_JSON], [SEGMENT_END_ENTRY, badEnd]]))).rejects.toThrow(/counts 2 changes .* the archive holds 0/);
    const after = handMade([[SEGMENT_HEADER_ENTRY, HEADER_JSON], [SEGMENT_END_ENTRY, { ...badEnd, events: 0 }], [eventEntryNames(1).meta, meta(1)]]);
    await expect(check(after)).rejects.toThrow(/after reshifter-delta-end.json/);
  });

  it('the writer refuses changes out of order and an end before its last change', () => {
    const w = new DeltaSegmentWriter(START);
    w.eventsOf([put('a', 105, 'x')]);
    expect(() => w.eventsOf([put('b', 104, 'x')])).toThrow(/out of order/);
    expect(() => w.end(104)).toThrow(/cannot end at 104/);
    expect(() => new DeltaSegmentWriter(START).eventsOf([{ ...del('a', 105), value: Buffer.from('x') }])).toThrow(/has a value/);
  });
});

describe('delta segment reader on damaged input', () => {
  /** A small deterministic PRNG, so a failure names an input that can be replayed. */
  function rng(seed: number) {
    let x = seed >>> 0 || 1;
    return (n: number) => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return (x >>> 0) % n;
    };
  }

  it('ends or throws an IntegrityError for every truncation, bit flip and overwrite, never another error', async () => {
    const good = segment(EVENTS.filter((e) => e.value.length < 1000));
    const r = rng(7);
    let refused = 0;
    for (let i = 0; i < 600; i++) {
      const b = Buffer.from(good);
      const at = r(b.length);
      if (i % 3 === 0) b[at]! ^= 1 << r(8);
      else if (i % 3 === 1) b.fill(r(256), at, Math.min(b.length, at + 1 + r(64)));
      const input = i % 3 === 2 ? good.subarray(0, at) : b;
      try {
        await readAll(input, 333);
      } catch (err) {
        expect(err, `mutant ${i} at ${at}: ${String(err)}`).toBeInstanceOf(IntegrityError);
        refused++;
      }
    }
    // Most damage is caught: every truncation, and flips outside value bytes and padding.
    expect(refused).toBeGreaterThan(300);
  });
});
