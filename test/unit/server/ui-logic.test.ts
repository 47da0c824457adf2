import { describe, expect, it } from 'vitest';
import { formatDuration } from '../../../src/core/duration.js';
import { tookText } from '../../../src/core/rate-meter.js';

// The page's modules are plain JavaScript for the browser; their DOM-free parts run here too. Imported through a
// variable so TypeScript does not look for their types.
const asset = (name: string) => new URL(`../../../src/server/ui/assets/${name}`, import.meta.url).href;
type Progress = { bytes: number; keys: number; totalBytes?: number; bytesPerSecond?: number };
const ui = (await import(asset('progress.js'))) as {
  describeProgress(p: Progress): { percent?: number; parts: string[] };
  formatEta(seconds: number): string;
  formatDuration(ms: number): string;
  tookText(durationMs: number, count: number, unit: string): string;
};
const { describeProgress, formatEta } = ui;
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

describe('the UI: how long a job took', () => {
  it('says it as the CLI does: "in 40ms", not "in 0.0 s"', () => {
    expect(ui.tookText(4, 1, 'keys')).toBe('in 4ms');
    expect(ui.tookText(0.4, 1, 'keys')).toBe('in <1ms');
    expect(ui.tookText(2500, 10_000, 'keys')).toBe('in 2.5s (4000 keys/s)');
    expect(ui.formatDuration(125_000)).toBe('2m5s');
  });

  it('keeps to the CLI\'s rule (core/duration.ts, core/rate-meter.ts) at every step of it', () => {
    for (const ms of [0, 0.4, 1, 40, 999, 999.6, 1000, 1049, 9949, 9950, 10_000, 119_499, 119_500, 120_000, 125_000, 7_200_000]) {
      expect(ui.formatDuration(ms), String(ms)).toBe(formatDuration(ms));
      for (const count of [0, 1, 12_345]) expect(ui.tookText(ms, count, 'keys'), `${ms} ${count}`).toBe(tookText(ms, count, 'keys'));
    }
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
