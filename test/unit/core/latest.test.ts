import { describe, expect, it } from 'vitest';
import { KEY_DUMP_CONTENT_TYPE, RENDER_CONTENT_TYPE } from '../../../src/core/content-type.js';
import { describeBackup, kindOf } from '../../../src/core/backup-kind.js';
import { NotFoundError } from '../../../src/core/errors.js';
import { newestFirst, pickLatest, USES, type BackupUse, type ListedBackup } from '../../../src/core/latest.js';
import { seriesNamed } from '../../../src/core/series.js';

const CONTENT = { snapshot: 'etcd-snapshot', raw: KEY_DUMP_CONTENT_TYPE, render: RENDER_CONTENT_TYPE } as const;
let n = 0;
/** A listed backup of `strategy`, made at 2026-11-22 `hh:mm`. */
const b = (strategy: string, time: string): ListedBackup => ({
  id: `20261122T${time.replace(':', '')}00.000Z-${String(n++).padStart(6, '0')}`,
  createdAt: `2026-11-22T${time}:00.000Z`,
  strategy,
  contentType: strategy.startsWith('filter:') ? CONTENT.raw : CONTENT[strategy as keyof typeof CONTENT],
});

// A store with every kind: hourly render listings (the newest backups), snapshots, raw and filter dumps.
const render2 = b('render', '11:00');
const render1 = b('render', '10:00');
const filter = b('filter:services,deployments', '09:30');
const snap2 = b('snapshot', '09:00');
const raw = b('raw', '08:00');
const snap1 = b('snapshot', '07:00');
const store = [snap1, render1, raw, filter, render2, snap2]; // any order: pickLatest sorts
const where = 'cluster "prod" in /backups';
const pick = (use: BackupUse, series?: string) => pickLatest(store, { use, where, ...(series !== undefined && { series: seriesNamed(series) }) }).id;

describe('pickLatest', () => {
  it('picks the newest backup each command can use', () => {
    expect(pick(USES.any)).toBe(render2.id);
    expect(pick(USES.inspect)).toBe(snap2.id);
    expect(pick(USES.restoreSnapshot)).toBe(snap2.id);
    expect(pick(USES.restoreKeyDump)).toBe(filter.id);
    expect(pick(USES.restoreKeys)).toBe(filter.id);
    expect(pick(USES.stats)).toBe(render2.id);
    expect(pick(USES.diff)).toBe(filter.id);
  });

  it('--strategy narrows it to one series (filter resources in any order)', () => {
    expect(pick(USES.any, 'snapshot')).toBe(snap2.id);
    expect(pick(USES.stats, 'raw')).toBe(raw.id);
    expect(pick(USES.restoreKeyDump, 'raw')).toBe(raw.id);
    expect(pick(USES.diff, 'filter:deployments,services')).toBe(filter.id);
    expect(pick(USES.any, 'render')).toBe(render2.id);
  });

  it('fails naming what the store holds and what the command reads', () => {
    const listings = [render2, render1];
    expect(() => pickLatest(listings, { use: USES.inspect, where })).toThrow(NotFoundError);
    expect(() => pickLatest(listings, { use: USES.inspect, where })).toThrow(
      `no snapshot backup of cluster "prod" in /backups; the newest backup is a render listing (${render2.id}, ${render2.createdAt}): \`inspect\` shows the status of snapshots only (its --keys, --get and --render read key dumps too)`,
    );
    expect(() => pickLatest([snap2], { use: USES.restoreKeyDump, where })).toThrow(
      `no key dump backup of cluster "prod" in /backups; the newest backup is a snapshot (${snap2.id}, ${snap2.createdAt}): \`restore\` without --data-dir or --keys restores key dumps (restore a snapshot with --data-dir DIR, or its live keys with --keys)`,
    );
    expect(() => pickLatest(listings, { use: USES.diff, where })).toThrow(/^no snapshot or key dump backup of .*: `diff` compares snapshots and key dumps/);
  });

  it('fails naming the series there are when the one asked for has none, or none the command can use', () => {
    expect(() => pick(USES.any, 'filter:secrets')).toThrow(
      'no backup of series "filter:secrets" of cluster "prod" in /backups; its series are render (2), filter:deployments,services (1), snapshot (2), raw (1)',
    );
    // Delta segments are no series `--strategy` can name: they are counted apart, as part of their chains.
    const seg = { ...snap2, id: '20261122T030710.999Z-d1d1d1', strategy: 'delta', contentType: 'delta-events', base: snap2.id };
    expect(() => pickLatest([...store, seg, seg], { use: USES.any, series: 'raw@v2', where })).toThrow(
      'no backup of series "raw@v2" of cluster "prod" in /backups; its series are render (2), filter:deployments,services (1), snapshot (2), raw (1), and 2 delta segments of their chains',
    );
    expect(() => pickLatest([seg], { use: USES.any, series: 'raw', where })).toThrow('no backup of series "raw" of cluster "prod" in /backups; it holds only 1 delta segment, of full backups gone');
    expect(() => pick(USES.inspect, 'render')).toThrow(
      `no snapshot backup of series "render" of cluster "prod" in /backups; the newest of that series is a render listing (${render2.id}, ${render2.createdAt}): \`inspect\` shows the status of snapshots only (its --keys, --get and --render read key dumps too)`,
    );
    expect(() => pick(USES.restoreKeyDump, 'snapshot')).toThrow(/^no key dump backup of series "snapshot" of .*; the newest of that series is a snapshot \(/);
  });

  it('says so when there are no backups at all', () => {
    expect(() => pickLatest([], { use: USES.any, where })).toThrow('no backups of cluster "prod" in /backups');
  });

  it('breaks a tie of times by id, as the listing does', () => {
    const a = { ...snap1, id: '20261122T070000.000Z-aaaaaa' };
    const z = { ...snap1, id: '20261122T070000.000Z-zzzzzz' };
    expect(pickLatest([a, z], { use: USES.inspect, where }).id).toBe(z.id);
    expect([a, z].sort(newestFirst)).toEqual([z, a]);
  });
});

describe('backup kinds', () => {
  it("are named from the manifest's content type, as the archive writes them", () => {
    expect(kindOf('etcd-snapshot')).toBe('snapshot');
    expect(kindOf(KEY_DUMP_CONTENT_TYPE)).toBe('key dump');
    expect(kindOf(RENDER_CONTENT_TYPE)).toBe('render listing');
    expect(kindOf('parquet')).toBe('other');
    expect(kindOf('constructor')).toBe('other');
    expect(describeBackup({ strategy: 'filter:secrets', contentType: 'tar' })).toBe('key dump (filter:secrets)');
    expect(describeBackup({ strategy: 'checkpoint', contentType: 'parquet' })).toBe('"checkpoint" backup (content type parquet)');
  });

  it("every use but `any` refuses a kind it cannot read", () => {
    const other = { ...snap1, contentType: 'parquet' };
    expect(pickLatest([other], { use: USES.any, where })).toBe(other);
    for (const use of [USES.inspect, USES.restoreKeyDump, USES.restoreSnapshot, USES.restoreKeys, USES.stats, USES.diff]) {
      expect(() => pickLatest([other], { use, where })).toThrow(/"snapshot" backup \(content type parquet\)/);
    }
  });
});
