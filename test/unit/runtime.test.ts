import { describe, expect, it } from 'vitest';
import { MIN_NODE_MAJOR, unsupportedNode } from '../../src/runtime.js';

describe('the Node.js reshifter runs on', () => {
  it('refuses an older major, naming both versions and the way to a supported one', () => {
    expect(MIN_NODE_MAJOR).toBe(24);
    for (const v of ['v20.20.2', 'v22.15.0', 'v23.11.1']) {
      const why = unsupportedNode(v);
      expect(why).toContain(`needs Node.js 24 or later, and this is Node.js ${v}`);
      expect(why).toContain('scripts/install-node.sh');
    }
  });

  it('runs on that major and later ones', () => {
    for (const v of ['v24.0.0', 'v24.22.3', 'v25.2.1', 'v100.0.0']) expect(unsupportedNode(v)).toBeUndefined();
    expect(unsupportedNode(process.version)).toBeUndefined();
  });
});
