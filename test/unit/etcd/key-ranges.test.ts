import { describe, expect, it } from 'vitest';
import { normalisePrefixes, prefixEnd, prefixRanges } from '../../../src/etcd/key-ranges.js';

describe('key ranges', () => {
  it('computes etcd prefix range ends', () => {
    expect(prefixEnd(Buffer.from('/registry/'))).toEqual(Buffer.from('/registry0'));
    expect(prefixEnd(Buffer.from([0x61, 0xff, 0xff]))).toEqual(Buffer.from([0x62]));
    expect(prefixEnd(Buffer.from([0xff]))).toEqual(Buffer.from([0]));
  });

  it('covers a prefix and its subtree only, never a sibling sharing its letters', () => {
    const [r] = prefixRanges(['/registry/']);
    const inside = (k: string) => Buffer.compare(Buffer.from(k), r!.start) >= 0 && Buffer.compare(Buffer.from(k), r!.end) < 0;
    expect(inside('/registry/pods/a')).toBe(true);
    expect(inside('/registryfoo/x')).toBe(false);
    expect(inside('/registry')).toBe(false);
  });

  it('drops nested and duplicate prefixes, sorts, and maps / to every key', () => {
    expect(normalisePrefixes(['/registry/', '/openshift.io', '/registry'])).toEqual(['/openshift.io', '/registry']);
    expect(prefixRanges(['/registry', '/registry/pods', '/kubernetes.io']).map((r) => r.prefix)).toEqual(['/kubernetes.io', '/registry']);
    expect(prefixRanges(['/registry', '/'])).toEqual([{ prefix: '/', start: Buffer.from([0]), end: Buffer.from([0]) }]);
  });
});
