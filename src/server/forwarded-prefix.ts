import type { IncomingHttpHeaders } from 'node:http';

/** A path prefix as a proxy may send it: `/` and path characters only (it goes into pages and headers). */
const PREFIX_RE = /^(\/[\w.~-]+)+\/?$/;

/**
 * The path a reverse proxy serves this server under, as it says in `X-Forwarded-Prefix` (Traefik's stripPrefix,
 * ingress-nginx's x-forwarded-prefix annotation), without a trailing `/`: `/reshifter`. Undefined without the header,
 * and for anything that is not a plain path, which is never put into a page or a header.
 */
export function forwardedPrefix(headers: IncomingHttpHeaders): string | undefined {
  const prefix = headers['x-forwarded-prefix'];
  if (typeof prefix !== 'string' || !PREFIX_RE.test(prefix)) return undefined;
  return prefix.replace(/\/$/, '');
}
