import { describe, expect, it } from 'vitest';
import { ARTIFACT_FORMATS, artifactName, idOfFile, idOfWrittenName, newBackupId, nextBackupId, timeOfId } from '../../../src/core/naming.js';
import { parseDuration } from '../../../src/core/duration.js';
import { parseStrategy } from '../../../src/core/strategy.js';

describe('backup ids', () => {
  it('encode the time and sort by it', () => {
    const a = newBackupId(new Date('2026-11-22T03:07:10.123Z'), Buffer.from('a1b2c3', 'hex'));
    expect(a).toBe('20261122T030710.123Z-a1b2c3');
    expect(timeOfId(a)?.toISOString()).toBe('2026-11-22T03:07:10.123Z');
    const later = newBackupId(new Date('2026-11-22T03:07:10.124Z'), Buffer.from('000000', 'hex'));
    expect([later, a].sort()).toEqual([a, later]);
  });

  it('are unique within the same millisecond', () => {
    const t = new Date();
    const ids = new Set(Array.from({ length: 1000 }, () => newBackupId(t)));
    expect(ids.size).toBeGreaterThan(990);
  });

  it('of a new backup never sort before the newest stored one: a clock behind it gives its time + 1 ms', () => {
    const now = new Date('2026-11-22T03:07:10.123Z');
    const r = Buffer.from('000000', 'hex');
    expect(nextBackupId(now, undefined, r)).toEqual({ id: '20261122T030710.123Z-000000', behindMs: 0 });
    expect(nextBackupId(now, '20261122T030709.999Z-ffffff', r)).toEqual({ id: '20261122T030710.123Z-000000', behindMs: 0 });
    // The same millisecond: its suffix could sort either way.
    expect(nextBackupId(now, '20261122T030710.123Z-ffffff', r)).toEqual({ id: '20261122T030710.124Z-000000', behindMs: 1 });
    // Stored by a clock an hour ahead.
    expect(nextBackupId(now, '20261122T040710.123Z-a1b2c3', r)).toEqual({ id: '20261122T040710.124Z-000000', behindMs: 3_600_001 });
  });

  it('name their files', () => {
    const id = '20261122T030710.123Z-a1b2c3';
    expect(artifactName(id, 'snapshot.db', 'gzip', 'age')).toBe(`${id}.snapshot.db.gz.age`);
    expect(artifactName(id, 'raw.tar', 'none', 'none')).toBe(`${id}.raw.tar`);
    expect(artifactName(id, 'snapshot.db', 'zstd', 'none')).toBe(`${id}.snapshot.db.zst`);
    expect(artifactName(id, 'raw.tar', 'zstd', 'age')).toBe(`${id}.raw.tar.zst.age`);
    expect(idOfFile(`${id}.manifest.json`)).toBe(id);
    expect(idOfFile('.tmp-1234-x')).toBeUndefined();
    expect(timeOfId('../../etc/passwd')).toBeUndefined();
  });
});

describe('parseDuration', () => {
  it.each([
    ['90s', 90_000],
    ['15m', 900_000],
    ['12h', 43_200_000],
    ['30d', 2_592_000_000],
    ['2w', 1_209_600_000],
    ['1d12h', 129_600_000],
  ])('%s', (text, ms) => expect(parseDuration(text)).toBe(ms));
  it.each(['', '30', 'd', '30 days', '-1d', '0d', '1.5h', '1y'])('rejects %j', (text) => {
    expect(() => parseDuration(text)).toThrow(/not a duration/);
  });
});

describe('parseStrategy', () => {
  it('reads every form', () => {
    expect(parseStrategy('snapshot')).toEqual({ kind: 'snapshot' });
    expect(parseStrategy('raw')).toEqual({ kind: 'raw' });
    expect(parseStrategy('render')).toEqual({ kind: 'render' });
    expect(parseStrategy('filter:deployments, services')).toEqual({ kind: 'filter', resources: ['deployments', 'services'] });
  });
  it("names what the Go Reshifter's RS_BACKUP_STRATEGY=filter kept, and the filter that keeps it here", () => {
    // Before: 'should be one of ... (did you mean filter:<resource>?)', with no word of which resource its filter kept.
    expect(() => parseStrategy('filter')).toThrow(`is the Go Reshifter's filter, which kept the keys whose path holds "deployments": here a filter names its resources, as filter:deployments`);
  });
  it.each(['snap', 'filter:', 'filter:Deploy ments', 'RAW'])('rejects %j', (text) => {
    expect(() => parseStrategy(text)).toThrow();
  });
});

describe('names reshifter writes', () => {
  const id = '20261122T030710.123Z-a1b2c3';
  it('are the manifest and every artifact in every codec', () => {
    expect(idOfWrittenName(`${id}.manifest.json`)).toBe(id);
    for (const format of ARTIFACT_FORMATS) {
      for (const compression of ['none', 'gzip', 'zstd']) {
        for (const encryption of ['none', 'age']) expect(idOfWrittenName(artifactName(id, format, compression, encryption))).toBe(id);
      }
    }
  });
  it.each([`${id}.manifest.json.bak`, `${id}.snapshot.db.zst.orig`, `${id}.snapshot.db.sha256`, id, `${id}.tar`, `${id}.snapshot.db.age.zst`])('are not %j', (name) => {
    expect(idOfWrittenName(name)).toBeUndefined();
  });
  it('refuse an artifact format retention would not know', () => {
    expect(() => artifactName(id, 'other.tar', 'none', 'none')).toThrow(/not in ARTIFACT_FORMATS/);
  });
});
