import { describe, expect, it } from 'vitest';
import { seriesNamed, seriesOf } from '../../../src/core/series.js';

describe('seriesOf', () => {
  it.each([
    ['snapshot', 'snapshot'],
    ['raw', 'raw'],
    ['render', 'render'],
    ['filter:secrets', 'filter:secrets'],
    // The same keys are dumped whatever the order or repeats: one series.
    ['filter:services,deployments', 'filter:deployments,services'],
    ['filter:deployments,services', 'filter:deployments,services'],
    ['filter:services, deployments,services', 'filter:deployments,services'],
    // A strategy this version does not know (a newer manifest) is its own series, as stored.
    ['checkpoint:shop/web-0/app', 'checkpoint:shop/web-0/app'],
    ['auto', 'auto'],
  ])('%s -> %s', (strategy, expected) => {
    expect(seriesOf({ strategy })).toBe(expected);
  });
});

describe('seriesNamed', () => {
  it('keys what an operator types as the manifests are keyed', () => {
    expect(seriesNamed('filter:services,deployments')).toBe(seriesOf({ strategy: 'filter:deployments,services' }));
    expect(seriesNamed(' snapshot ')).toBe('snapshot');
  });

  it('refuses what is no strategy, saying why', () => {
    expect(() => seriesNamed('everything')).toThrow(/should be one of snapshot, raw, render, filter:/);
    expect(() => seriesNamed('filter:')).toThrow(/needs at least one resource/);
  });
});
