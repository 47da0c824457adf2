import { isIP } from 'node:net';

/** True when `address` (what the HTTP server binds) is reachable from this machine only. */
export function isLoopback(address: string): boolean {
  const a = address.replace(/^\[|\]$/g, '').toLowerCase();
  if (a === 'localhost' || a === '::1') return true;
  const v4 = a.startsWith('::ffff:') ? a.slice('::ffff:'.length) : a;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

/**
 * Whether the API's reads of what the cluster holds (stats, explore, diff, a backup's details) answer without a
 * token. With RS_API_TOKEN every request carries it anyway; without one they are open only on loopback, or when
 * the operator opens them on purpose (RS_API_READ_OPEN=true): a port on a node's network is reachable by every pod.
 */
export function contentReadsOpen(o: { address: string; token?: string | undefined; readOpen: boolean }): boolean {
  return o.token !== undefined || o.readOpen || isLoopback(o.address);
}

/**
 * Whether the HTTP server checks the name a request was sent to (its Host header), against DNS rebinding: a page of
 * `evil.example` makes its own name resolve to 127.0.0.1, and the operator's browser then sends that page's requests
 * to this server as same-origin ones (`Host: evil.example:8080`) and lets the page read the answers, such as the key
 * names and stats that the API answers without a token on loopback. Checked:
 * - on loopback, always: every client runs on this machine and names it by an address or `localhost` (or by a name
 *   in RS_HTTP_ALLOWED_HOSTS, such as an /etc/hosts alias);
 * - beyond loopback, only when RS_HTTP_ALLOWED_HOSTS is set: there clients name the server by names it cannot know
 *   (a Service's DNS names, an ingress host), and the rebound page gains nothing a pod on the network lacks: without
 *   a token the reads of the cluster's contents answer 403 (unless RS_API_READ_OPEN opens them to anyone who reaches
 *   the port, the browser included: the list closes that), and a browser never adds a bearer token by itself.
 */
export function checksHostNames(o: { address: string | undefined; allowedHosts: readonly string[] }): boolean {
  return (o.address !== undefined && isLoopback(o.address)) || o.allowedHosts.length > 0;
}

/**
 * Whether a Host header names this server in a way DNS rebinding cannot fake: an IP address (the page's origin is
 * then that address itself: no name was resolved), `localhost` (browsers resolve it themselves), or one of `allowed`.
 * Any port: a rebound page's port is the one it talks to anyway, and tunnels (ssh -L, kubectl port-forward) change
 * it. A request without Host (HTTP/1.0; browsers always send one) is let through.
 */
export function hostAllowed(header: string | undefined, allowed: readonly string[]): boolean {
  if (header === undefined) return true;
  const m = /^(?:\[([0-9a-f:.]+)\]|([^:[\]]+))(?::\d*)?$/i.exec(header.trim());
  if (!m) return false;
  const name = (m[1] ?? m[2]!).toLowerCase();
  return name === 'localhost' || isIP(name) !== 0 || allowed.includes(name);
}
