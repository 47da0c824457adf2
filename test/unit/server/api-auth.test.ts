import { describe, expect, it } from 'vitest';
import { authorize } from '../../../src/server/api/auth.js';
import { ApiError } from '../../../src/server/api/http.js';

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
    for (const access of ['read', 'sensitive', 'write'] as const) {
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
});
