import { describe, expect, it } from 'vitest';
import { RateMeter, ratePerSecond, tookText } from '../../../src/core/rate-meter.js';

describe('RateMeter', () => {
  it('says nothing until its samples span long enough', () => {
    const m = new RateMeter(5000, 250, 900);
    expect(m.perSecond()).toBeUndefined();
    m.add(0, 0);
    m.add(1000, 500);
    expect(m.perSecond()).toBeUndefined();
    m.add(2000, 1000);
    expect(m.perSecond()).toBe(2000);
  });

  it('follows the last window only: a stall shows as a falling rate, then zero', () => {
    const m = new RateMeter(5000, 250, 900);
    for (let s = 0; s <= 10; s++) m.add(s * 1000, s * 1000);
    expect(m.perSecond()).toBe(1000);
    for (let s = 11; s <= 13; s++) m.add(10_000, s * 1000);
    expect(m.perSecond()).toBeCloseTo(400, 5);
    for (let s = 14; s <= 16; s++) m.add(10_000, s * 1000);
    expect(m.perSecond()).toBe(0);
  });

  it('keeps a few samples however often it is told (per chunk)', () => {
    const m = new RateMeter(5000, 250, 900);
    let count = 0;
    // 64 KiB chunks at 100 MB/s for 20 s: ~30,000 calls.
    for (let t = 0; t <= 20_000; t += 0.65) m.add((count += 65_536), t);
    expect(m.perSecond()).toBeCloseTo(65_536 / 0.65 * 1000, -3);
    expect((m as unknown as { samples: unknown[] }).samples.length).toBeLessThanOrEqual(5000 / 250 + 2);
  });
});

describe('ratePerSecond and tookText', () => {
  it('is finite for any span: one under 1 ms counts as 1 ms', () => {
    expect(ratePerSecond(1, 0)).toBe(1000);
    expect(ratePerSecond(0, 0)).toBe(0);
    expect(ratePerSecond(3, 2000)).toBe(2);
  });

  it('says a rate only over a second or more', () => {
    expect(tookText(0, 1, 'keys')).toBe('in <1ms');
    expect(tookText(87, 1, 'keys')).toBe('in 87ms');
    expect(tookText(1000, 3, 'keys')).toBe('in 1s (3 keys/s)');
    expect(tookText(12_500, 100_000, 'keys')).toBe('in 13s (8000 keys/s)');
  });
});
