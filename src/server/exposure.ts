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
