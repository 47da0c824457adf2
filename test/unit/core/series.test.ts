import { describe, expect, it } from 'vitest';
import { inSeries, seriesNamed, seriesOf } from '../../../src/core/series.js';

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
    expect(() => seriesNamed('filter:')).toThrow(/names no resource: give at least one/);
  });
});

describe('checkpoint series', () => {
  const ckpt = (namespace: string, pod: string, container: string) => ({ strategy: 'checkpoint', checkpoint: { namespace, pod, container } });

  it('keys each container on its own, so retention keeps the last N of each', () => {
    expect(seriesOf(ckpt('shop', 'web', 'app'))).toBe('checkpoint:shop/web/app');
    expect(seriesOf(ckpt('shop', 'web', 'envoy'))).not.toBe(seriesOf(ckpt('shop', 'web', 'app')));
  });

  it('names one container, or every checkpoint with "checkpoint", and refuses what names no container', () => {
    expect(seriesNamed('checkpoint:shop/web/app')).toBe('checkpoint:shop/web/app');
    expect(inSeries(ckpt('shop', 'web', 'app'), seriesNamed('checkpoint:shop/web/app'))).toBe(true);
    expect(inSeries(ckpt('shop', 'web', 'envoy'), seriesNamed('checkpoint:shop/web/app'))).toBe(false);
    expect(inSeries(ckpt('shop', 'web', 'envoy'), seriesNamed('checkpoint'))).toBe(true);
    expect(inSeries({ strategy: 'snapshot' }, seriesNamed('checkpoint'))).toBe(false);
    expect(() => seriesNamed('checkpoint:shop/web')).toThrow(/names no container: checkpoint:<namespace>\/<pod>\/<container>/);
    expect(() => seriesNamed('checkpoint:shop/Web/app')).toThrow(/"Web" is not a pod name/);
  });
});
