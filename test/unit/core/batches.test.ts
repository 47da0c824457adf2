import { describe, expect, it } from 'vitest';
import { Batcher } from '../../../src/core/batches.js';

function batchAll(sizes: number[], maxItems: number, maxBytes: number): number[][] {
  const b = new Batcher<number>(maxItems, maxBytes, (n) => n);
  const out: number[][] = [];
  for (const s of sizes) {
    const full = b.add(s);
    if (full) out.push(full);
  }
  const rest = b.flush();
  if (rest) out.push(rest);
  return out;
}

describe('batcher', () => {
  it('caps batches by item count', () => {
    const out = batchAll(Array.from({ length: 300 }, () => 1), 128, 1e9);
    expect(out.map((b) => b.length)).toEqual([128, 128, 44]);
  });

  it('caps batches by bytes, an oversized item alone', () => {
    expect(batchAll([400, 400, 400, 1500, 10, 10], 128, 1000)).toEqual([[400, 400], [400], [1500], [10, 10]]);
  });

  it('keeps every item exactly once, in order, within both limits', () => {
    const sizes = Array.from({ length: 1000 }, (_, i) => (i * 7919) % 300);
    const out = batchAll(sizes, 16, 1024);
    expect(out.flat()).toEqual(sizes);
    for (const b of out) {
      expect(b.length).toBeLessThanOrEqual(16);
      if (b.length > 1) expect(b.reduce((a, c) => a + c, 0)).toBeLessThanOrEqual(1024);
    }
  });

  it('has nothing to flush when empty', () => {
    expect(new Batcher<number>(1, 1, () => 1).flush()).toBeUndefined();
  });
});
