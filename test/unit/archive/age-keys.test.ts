import { describe, expect, it } from 'vitest';
import { isAgeIdentity, isAgeRecipient, parseIdentityFile } from '../../../src/archive/age-keys.js';
import { keyPair } from './age-helpers.js';

describe('age keys', async () => {
  const { identity, recipient } = await keyPair();
  const typo = (s: string, at: number) => s.slice(0, at) + (s[at] === 'q' || s[at] === 'Q' ? (s[at] === 'q' ? 'p' : 'P') : s[at] === s[at]!.toLowerCase() ? 'q' : 'Q') + s.slice(at + 1);

  it('accepts real keys and refuses one-character typos (bech32 checksum)', () => {
    expect(isAgeRecipient(recipient)).toBe(true);
    expect(isAgeIdentity(identity)).toBe(true);
    expect(isAgeRecipient(typo(recipient, 20))).toBe(false);
    expect(isAgeIdentity(typo(identity, 30))).toBe(false);
    expect(isAgeRecipient(identity)).toBe(false);
    expect(isAgeIdentity(recipient)).toBe(false);
  });

  it('parses an age-keygen file: comments and blank lines ignored', () => {
    const other = identity;
    const text = `# created: 2026-11-22T03:23:57Z\n# public key: ${recipient}\n${identity}\n\n  # second\r\n${other}\r\n`;
    expect(parseIdentityFile(text)).toEqual([identity, other]);
  });

  it.each([
    ['an empty file', '', /holds no age secret key/],
    ['only comments', '# public key: age1xyz\n', /holds no age secret key/],
    ['a public key', `# k\n${'age1'.padEnd(62, 'q')}\n`, /line 2 is not an age secret key/],
    ['a post-quantum key', 'AGE-SECRET-KEY-PQ-1ABC\n', /line 1 is an age identity type reshifter does not support/],
    ['a plugin key', 'AGE-PLUGIN-YUBIKEY-1ABC\n', /line 1 is an age identity type/],
  ])('refuses %s with a message that names the line, not its content', (_what, text, re) => {
    let message = '';
    try {
      parseIdentityFile(text);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(re);
    expect(message).not.toContain('ABC');
  });

  it('does not quote a mistyped secret key', () => {
    const bad = typo(identity, 30);
    let message = '';
    try {
      parseIdentityFile(`${bad}\n`);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toBe('line 1 is not an age secret key (AGE-SECRET-KEY-1...)');
  });
});
