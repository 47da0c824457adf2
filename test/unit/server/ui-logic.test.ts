import { describe, expect, it } from 'vitest';

// The page's modules are plain JavaScript for the browser; their DOM-free parts run here too. Imported through a
// variable so TypeScript does not look for their types.
const asset = (name: string) => new URL(`../../../src/server/ui/assets/${name}`, import.meta.url).href;
type Progress = { bytes: number; keys: number; totalBytes?: number; bytesPerSecond?: number };
const { describeProgress, formatEta } = (await import(asset('progress.js'))) as {
  describeProgress(p: Progress): { percent?: number; parts: string[] };
  formatEta(seconds: number): string;
};
const { holdsValues, seriesOf } = (await import(asset('kinds.js'))) as {
  holdsValues(m: { contentType: string }): boolean;
  seriesOf(m: { strategy: string }): string;
};
const { chartSeries } = (await import(asset('chart.js'))) as {
  chartSeries(backups: Array<{ id: string; strategy: string; keys?: number }>): Array<{ key: string; index: number; counts: boolean; backups: unknown[] }>;
};

const MiB = 1024 * 1024;

describe('the UI: a running job in words', () => {
  it('gives bytes, percent, rate and time left when the total and the rate are known', () => {
    expect(describeProgress({ bytes: 100 * MiB, keys: 0, totalBytes: 400 * MiB, bytesPerSecond: 50 * MiB })).toEqual({
      percent: 25,
      parts: ['100.0 MiB of 400.0 MiB', '25%', '50.0 MiB/s', 'about 6 s left'],
    });
  });

  it('says what it can without a total (key dumps) or before a rate', () => {
    expect(describeProgress({ bytes: 3 * MiB, keys: 0, bytesPerSecond: MiB })).toEqual({ percent: undefined, parts: ['3.0 MiB read', '1.0 MiB/s'] });
    expect(describeProgress({ bytes: 0, keys: 0, totalBytes: 10 * MiB })).toEqual({ percent: 0, parts: ['0 B of 10.0 MiB', '0%'] });
  });

  it('never says 100% or a negative time while running: the total is an estimate', () => {
    expect(describeProgress({ bytes: 11 * MiB, keys: 0, totalBytes: 10 * MiB, bytesPerSecond: MiB }).parts).toEqual(['11.0 MiB of 10.0 MiB', '99%', '1.0 MiB/s', 'finishing']);
    expect(describeProgress({ bytes: MiB, keys: 0, totalBytes: 10 * MiB, bytesPerSecond: 0 }).parts.at(-1)).toBe('stalled');
  });

  it('rounds the time left to what a person reads', () => {
    expect([formatEta(0.2), formatEta(42.4), formatEta(150), formatEta(4000)]).toEqual(['about 1 s left', 'about 42 s left', 'about 3 min left', 'about 1 h 7 min left']);
  });
});

describe('the UI: kinds and series', () => {
  it('compares and restores by content type, not by strategy name', () => {
    expect(['etcd-snapshot', 'tar', 'jsonl', 'checkpoint-oci'].map((contentType) => holdsValues({ contentType }))).toEqual([true, true, false, false]);
  });

  it('keys series as the server does, and orders them stably', () => {
    expect(seriesOf({ strategy: 'filter:services,deployments,services' })).toBe('filter:deployments,services');
    // One series per container, as core/series.ts keys checkpoints.
    expect(seriesOf({ strategy: 'checkpoint', checkpoint: { namespace: 'shop', pod: 'web', container: 'app' } } as { strategy: string })).toBe('checkpoint:shop/web/app');
    const series = chartSeries([
      { id: '1', strategy: 'render' },
      { id: '2', strategy: 'raw', keys: 10 },
      { id: '3', strategy: 'filter:services,deployments', keys: 2 },
      { id: '4', strategy: 'snapshot' },
      { id: '5', strategy: 'filter:deployments,services', keys: 3 },
    ]);
    expect(series.map((s) => [s.key, s.index, s.backups.length, s.counts])).toEqual([
      ['snapshot', 0, 1, false],
      ['raw', 1, 1, true],
      ['filter:deployments,services', 2, 2, true],
      ['render', 3, 1, false],
    ]);
  });
});
