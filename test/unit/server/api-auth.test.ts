import { describe, expect, it } from 'vitest';
import { authorize } from '../../../src/server/api/auth.js';
import { ApiError } from '../../../src/server/api/http.js';
import { contentReadsOpen, isLoopback } from '../../../src/server/exposure.js';

const TOKEN = 'a-long-enough-token-123';

function refusal(fn: () => void): ApiError | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    if (err instanceof ApiError) return err;
    throw err;
  }
}

describe('authorize', () => {
  it('with a token: every access needs "Bearer <token>"', () => {
    for (const access of ['read', 'content', 'sensitive', 'write'] as const) {
      expect(refusal(() => authorize({ authorization: `Bearer ${TOKEN}` }, TOKEN, access))).toBeUndefined();
      expect(refusal(() => authorize({ authorization: `bearer  ${TOKEN} ` }, TOKEN, access))).toBeUndefined();
      for (const header of [undefined, '', TOKEN, `Basic ${TOKEN}`, `Bearer ${TOKEN}x`, `Bearer ${TOKEN.slice(1)}`, `Bearer ${TOKEN} extra`]) {
        const err = refusal(() => authorize(header === undefined ? {} : { authorization: header }, TOKEN, access));
        expect(err?.status).toBe(401);
        expect(err?.headers['WWW-Authenticate']).toMatch(/^Bearer/);
        expect(err?.message).not.toContain(TOKEN);
      }
    }
  });

  it('without a token: reads pass, changes and downloads are forbidden whatever is sent', () => {
    expect(refusal(() => authorize({}, undefined, 'read'))).toBeUndefined();
    expect(refusal(() => authorize({}, undefined, 'write'))?.status).toBe(403);
    expect(refusal(() => authorize({ authorization: `Bearer ${TOKEN}` }, undefined, 'write'))?.status).toBe(403);
    const download = refusal(() => authorize({}, undefined, 'sensitive'));
    expect(download?.status).toBe(403);
    expect(download?.message).toMatch(/downloading backups is disabled: set RS_API_TOKEN/);
  });

  it("without a token: reads of the cluster's contents pass only where they are open (loopback, RS_API_READ_OPEN)", () => {
    expect(refusal(() => authorize({}, undefined, 'content', true))).toBeUndefined();
    const closed = refusal(() => authorize({}, undefined, 'content'));
    expect(closed?.status).toBe(403);
    expect(closed?.message).toMatch(/reachable beyond loopback without RS_API_TOKEN: set RS_API_TOKEN .* or RS_API_READ_OPEN=true/);
    expect(refusal(() => authorize({}, undefined, 'content', false))?.status).toBe(403);
    // Open content reads open nothing else.
    expect(refusal(() => authorize({}, undefined, 'sensitive', true))?.status).toBe(403);
    expect(refusal(() => authorize({}, undefined, 'write', true))?.status).toBe(403);
  });
});

describe('isLoopback and contentReadsOpen', () => {
  it.each([
    ['127.0.0.1', true], ['127.1.2.3', true], ['localhost', true], ['::1', true], ['[::1]', true], ['::ffff:127.0.0.1', true],
    ['0.0.0.0', false], ['::', false], ['10.0.0.5', false], ['::ffff:10.0.0.5', false], ['fe80::1', false],
  ])('%s is loopback: %s', (address, loopback) => {
    expect(isLoopback(address)).toBe(loopback);
    expect(contentReadsOpen({ address, readOpen: false })).toBe(loopback);
    expect(contentReadsOpen({ address, readOpen: true })).toBe(true);
    expect(contentReadsOpen({ address, token: TOKEN, readOpen: false })).toBe(true);
  });
});
