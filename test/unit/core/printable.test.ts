import { describe, expect, it } from 'vitest';
import { printable } from '../../../src/core/printable.js';

describe('printable', () => {
  it('escapes what would fake lines and columns or drive a terminal, and nothing else', () => {
    expect(printable('/registry/configmaps/prod/evil\nFAKE\tLINE\u001b[31mRED\u009b')).toBe('/registry/configmaps/prod/evil\\x0aFAKE\\x09LINE\\x1b[31mRED\\x9b');
    expect(printable('/registry/pods/ns/wéb-ünïcode-名前')).toBe('/registry/pods/ns/wéb-ünïcode-名前');
  });
});
