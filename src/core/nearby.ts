import { suggest } from './suggest.js';

/**
 * What a store holds near an id it does not have, for the message of an unknown id: the id one typo away (`did you
 * mean ...?`), else the backups just before and after it in time (ids sort by time), else the newest. `ids` are the
 * cluster's backup ids in any order.
 */
export function nearbyIds(id: string, ids: readonly string[]): string {
  if (ids.length === 0) return 'it holds no backups';
  const typo = suggest(id, ids);
  if (typo !== undefined) return `did you mean ${typo}?`;
  const sorted = [...ids].sort();
  const after = sorted.findIndex((x) => x > id);
  const before = after === -1 ? sorted[sorted.length - 1] : sorted[after - 1];
  const parts = [...(before !== undefined ? [`${before} (before it)`] : []), ...(after !== -1 ? [`${sorted[after]!} (after it)`] : [])];
  return `the nearest by time: ${parts.join(', ')}`;
}
