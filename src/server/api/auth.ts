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
    const why = bearerProblem(headers.authorization, token);
    if (why !== undefined) {
      throw new ApiError(401, 'unauthorized', `this API needs "Authorization: Bearer <RS_API_TOKEN>": ${why}`, undefined, {
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

/**
 * Why the Authorization header does not carry `token` (undefined when it does), in words that tell a missing header
 * from another scheme (a proxy in front that logs users in with Basic takes the header for itself) and from a token
 * that does not match (an old one, after the Secret was rotated). Never the header's value. The comparison is in
 * constant time over hashes, so neither the token's bytes nor its length leak through timing.
 */
function bearerProblem(header: string | undefined, token: string): string | undefined {
  if (header === undefined || header.trim() === '') return 'the request has no Authorization header';
  const match = /^Bearer +(\S+) *$/i.exec(header);
  if (!match) {
    const scheme = /^[A-Za-z][\w-]{0,20}(?= )/.exec(header)?.[0];
    return scheme !== undefined && scheme.toLowerCase() !== 'bearer'
      ? `its Authorization header is of scheme ${scheme}, not Bearer (a proxy in front that logs users in takes that header for itself)`
      : 'its Authorization header is not "Bearer " and one token';
  }
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(match[1]!), digest(token)) ? undefined : 'the token it carries is not RS_API_TOKEN';
}
