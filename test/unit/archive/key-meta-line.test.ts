import { describe, expect, it } from 'vitest';
import { MAX_VALUE_BYTES, keyMetaLine, parseKeyMetaJson } from '../../../src/archive/key-dump-format.js';
import { readCanonicalKeyMeta } from '../../../src/archive/key-meta-line.js';
import type { KeyRecord } from '../../../src/core/key-record.js';

const record = (key: string | Buffer, extra: Partial<KeyRecord> = {}): KeyRecord => ({
  key: Buffer.from(key),
  value: Buffer.alloc(5),
  createRevision: 12,
  modRevision: 345,
  version: 2,
  ...extra,
});

/** What the JSON reader makes of a line: the facts the dump reader uses, and the key; or the error it throws. */
function viaJson(line: Buffer, n: number): unknown {
  try {
    const { meta, key } = parseKeyMetaJson(line, n);
    const { n: at, valueSize, createRevision, modRevision, version, lease, ttl } = meta;
    return { meta: { n: at, valueSize, createRevision, modRevision, version, ...(lease !== undefined && { lease }), ...(ttl !== undefined && { ttl }) }, key };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

const RECORDS: KeyRecord[] = [
  record('/registry/pods/default/web-0'),
  record('/registry/events/default/e1', { lease: '7587869370185843210', ttl: 3600 }),
  record('/registry/events/default/e2', { lease: '1', ttl: 0 }),
  record('/registry/leases/kube-system/x', { ttl: 10 }),
  record('/registry/configmaps/ns/ünïcödé-名前-😀'),
  record('a'),
  record('ab'),
  record('abc'),
  record('/registry/secrets/default/big', { createRevision: 999_999_999_999_999, modRevision: 100_000_000_000_000, version: 0, value: Buffer.alloc(0) }),
];

describe('reading key lines without JSON.parse', () => {
  it('reads every line keyMetaLine writes for a UTF-8 key as the JSON reader does', () => {
    RECORDS.forEach((r, i) => {
      const line = Buffer.from(keyMetaLine(i + 1, r));
      const fast = readCanonicalKeyMeta(line, i + 1, MAX_VALUE_BYTES);
      expect(fast, line.toString()).toBeDefined();
      expect(fast).toEqual(viaJson(line, i + 1));
    });
  });

  it('leaves to the JSON reader what it does not write alike: escapes, binary keys, another order, spaces, numbers past 15 digits', () => {
    const lines = [
      keyMetaLine(1, record('/registry/pods/a"b')),
      keyMetaLine(1, record('/registry/pods/a\\b')),
      keyMetaLine(1, record('/registry/pods/tab\there')),
      keyMetaLine(1, record(Buffer.from([0x2f, 0xff, 0xfe]))),
      keyMetaLine(1, record('/x', { modRevision: 2 ** 53 - 1 })),
      JSON.stringify({ key: '/x', n: 1, keyBase64: Buffer.from('/x').toString('base64'), valueSize: 5, createRevision: 1, modRevision: 1, version: 1 }),
      JSON.stringify({ n: 1, key: '/x', keyBase64: Buffer.from('/x').toString('base64'), valueSize: 5, createRevision: 1, modRevision: 1, version: 1 }, null, 1),
    ];
    for (const text of lines) {
      const line = Buffer.from(text);
      expect(readCanonicalKeyMeta(line, 1, MAX_VALUE_BYTES), text).toBeUndefined();
      expect(viaJson(line, 1)).not.toHaveProperty('error');
    }
  });

  it('never takes a damaged line that the JSON reader refuses, nor reads one differently (every byte changed, every cut)', () => {
    const lines = RECORDS.map((r, i) => Buffer.from(keyMetaLine(i + 1, r)));
    let checked = 0;
    lines.forEach((good, i) => {
      const variants: Buffer[] = [];
      for (let at = 0; at < good.length; at++) {
        for (const byte of [0x30, 0x39, 0x22, 0x5c, 0x7b, 0x7d, 0x2c, 0x3d, 0x20, 0x00, 0x80, 0x41]) {
          const bad = Buffer.from(good);
          bad[at] = byte;
          variants.push(bad);
        }
        variants.push(good.subarray(0, at), Buffer.concat([good.subarray(0, at), good.subarray(at + 1)]));
      }
      for (const v of variants) {
        const fast = readCanonicalKeyMeta(v, i + 1, MAX_VALUE_BYTES);
        if (fast === undefined) continue;
        checked++;
        expect(fast, v.toString('latin1')).toEqual(viaJson(v, i + 1));
      }
    });
    // Some damage leaves a valid line (a digit for a digit): those were compared.
    expect(checked).toBeGreaterThan(100);
  });

  it('refuses a key numbered otherwise and a value over the limit, as the JSON reader does', () => {
    const line = Buffer.from(keyMetaLine(7, record('/registry/pods/default/web-0', { value: Buffer.alloc(100) })));
    expect(readCanonicalKeyMeta(line, 8, MAX_VALUE_BYTES)).toBeUndefined();
    expect(viaJson(line, 8)).toEqual({ error: 'says it is key 7, expected 8' });
    expect(readCanonicalKeyMeta(line, 7, 99)).toBeUndefined();
  });
});
