import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { functionSizes } from '../../helpers/source-graph.js';

/** Longest a function of src/ may be, in lines from its first to its last (README, Development). */
const MAX_LINES = 60;

describe('function sizes', () => {
  const sizes = functionSizes(fileURLToPath(new URL('../../../src', import.meta.url)));

  it('measures every function, arrow and method', () => {
    expect(sizes.length).toBeGreaterThan(1000);
    expect(sizes.find((f) => f.file === 'config/load-config.ts' && f.name === 'loadConfig')?.lines).toBeGreaterThan(5);
  });

  it(`has none over ${MAX_LINES} lines`, () => {
    const long = sizes.filter((f) => f.lines > MAX_LINES).map((f) => `${f.file}:${f.line} ${f.name} (${f.lines} lines)`);
    expect(long).toEqual([]);
  });
});
