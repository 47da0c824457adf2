import { afterAll, beforeAll, expect, it } from 'vitest';
import { skippedSlotBetween } from '../../../src/server/dst-gap.js';

/** node-cron and this computation read local time as the process's TZ; Node takes a TZ set at run time. */
const savedTz = process.env.TZ;
beforeAll(() => {
  process.env.TZ = 'Europe/Berlin';
});
afterAll(() => {
  if (savedTz === undefined) delete process.env.TZ;
  else process.env.TZ = savedTz;
});

// 2027-03-28: Berlin's clocks go from 02:00 to 03:00 (01:00Z); 2026-10-25: from 03:00 back to 02:00.
const spring = { from: new Date('2027-03-27T01:30:00Z'), to: new Date('2027-03-29T00:30:00Z') };

it('a daily slot inside the hour skipped when DST starts runs at the first instant after it (03:00 local)', () => {
  expect(skippedSlotBetween('30 2 * * *', spring.from, spring.to)?.toISOString()).toBe('2027-03-28T01:00:00.000Z');
  expect(skippedSlotBetween('0 2 * * *', spring.from, spring.to)?.toISOString()).toBe('2027-03-28T01:00:00.000Z');
  expect(skippedSlotBetween('59 2 * * 0', spring.from, spring.to)?.toISOString()).toBe('2027-03-28T01:00:00.000Z');
  expect(skippedSlotBetween('0 30 2 * * *', spring.from, spring.to)?.toISOString()).toBe('2027-03-28T01:00:00.000Z');
});

it('no extra slot: times outside the gap, other days, hourly schedules, the autumn change, the gap outside the span', () => {
  expect(skippedSlotBetween('30 3 * * *', spring.from, spring.to)).toBeUndefined();
  expect(skippedSlotBetween('30 1 * * *', spring.from, spring.to)).toBeUndefined();
  expect(skippedSlotBetween('30 2 * * 1-5', spring.from, spring.to)).toBeUndefined();
  expect(skippedSlotBetween('30 * * * *', spring.from, spring.to)).toBeUndefined();
  expect(skippedSlotBetween('30 2 * * *', new Date('2026-10-24T00:30:00Z'), new Date('2026-10-26T01:30:00Z'))).toBeUndefined();
  expect(skippedSlotBetween('30 2 * * *', new Date('2027-03-28T01:00:00Z'), new Date('2027-03-29T00:30:00Z'))).toBeUndefined();
});

it('every second hour from midnight: 02:00 is skipped, 03:00 takes it', () => {
  expect(skippedSlotBetween('0 */2 * * *', new Date('2027-03-27T23:00:00Z'), new Date('2027-03-28T02:00:00Z'))?.toISOString()).toBe('2027-03-28T01:00:00.000Z');
});
