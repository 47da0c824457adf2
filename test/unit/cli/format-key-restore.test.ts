import { describe, expect, it } from 'vitest';
import { formatKeyRestore } from '../../../src/commands/restore.js';
import type { KeyRestoreReport } from '../../../src/ops/restore-keys.js';

const report = (written: number, durationMs: number, keysPerSecond: number): KeyRestoreReport => ({
  id: '20261206T202057.022Z-989e23',
  dryRun: false,
  target: { endpoints: ['http://127.0.0.1:2379'], apiVersion: 'v3' },
  written,
  durationMs,
  keysPerSecond,
  totals: { keys: written, create: written, update: 0, unchanged: 0, skipped: 0, skippedBy: { filtered: 0, exists: 0, expired: 0 } },
  resources: [],
  unmatchedFilters: [],
});

/** The summary line of a key restore: a rate only over a span that can carry one (it said '0.0 s (0 keys/s)'). */
describe('formatKeyRestore', () => {
  it.each([
    [1, 0, 1000, 'restored 1 key into http://127.0.0.1:2379 (v3) in <1ms'],
    [1, 40, 25, 'restored 1 key into http://127.0.0.1:2379 (v3) in 40ms'],
    [900, 999, 901, 'restored 900 keys into http://127.0.0.1:2379 (v3) in 999ms'],
    [5000, 2500, 2000, 'restored 5000 keys into http://127.0.0.1:2379 (v3) in 2.5s (2000 keys/s)'],
  ])('%i written in %i ms', (written, ms, rate, line) => {
    expect(formatKeyRestore(report(written, ms, rate)).at(-1)).toBe(line);
  });
});
