import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { ApiError } from './http.js';

/**
 * What a route needs: `read` (lists, jobs, the version), `content` (reads that show what the cluster holds: stats,
 * explore, diff, a backup's details), `sensitive` (reads that hand out stored backups, which hold every Secret of the
 * cluster) and `write` (anything that changes a store or etcd).
 */
export type Access = 'read' | 'content' | 'sensitive' | 'write';

/**
 * Decides whether a request may go on. With a token configured, every API request must carry it as
 * `Authorization: Bearer <token>` (401 otherwise). Without one, the API is read-only: `read` routes answer,
 * `content` routes only when `contentOpen` (server/exposure.ts: on loopback, or RS_API_READ_OPEN=true), and the
 * others refuse (403), since restoring into etcd must never be open by default. Replies never echo what was sent.
 */
export function authorize(headers: IncomingHttpHeaders, token: string | undefined, access: Access, contentOpen = false): void {
  if (token !== undefined) {
    if (!bearerMatches(headers.authorization, token)) {
      throw new ApiError(401, 'unauthorized', 'this API needs "Authorization: Bearer <RS_API_TOKEN>"', undefined, {
        'WWW-Authenticate': 'Bearer realm="reshifter"',
      });
    }
    return;
  }
  if (access === 'content' && !contentOpen) {
    throw new ApiError(
      403,
      'forbidden',
      'this read shows what the cluster holds, and the API is reachable beyond loopback without RS_API_TOKEN: set RS_API_TOKEN and send it as a bearer token, or RS_API_READ_OPEN=true to open such reads to anyone who reaches the port',
    );
  }
  if (access !== 'read' && access !== 'content') {
    const what = access === 'write' ? 'changes through the API are' : 'downloading backups is';
    throw new ApiError(403, 'forbidden', `${what} disabled: set RS_API_TOKEN to enable them, and send it as a bearer token`);
  }
}

/** Compares in constant time over hashes, so neither the token's bytes nor its length leak through timing. */
function bearerMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer +(\S+) *$/i.exec(header ?? '');
  if (!match) return false;
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(match[1]!), digest(token));
}
