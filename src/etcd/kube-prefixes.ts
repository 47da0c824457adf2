import type { Etcd3 } from 'etcd3';
import { DEFAULT_PREFIXES } from '../kube/index.js';
import { prefixRanges, normalisePrefixes } from './key-ranges.js';
import { countKeys } from './paged-reader.js';
import type { V2Client } from './v2-client.js';

/** Keys under each prefix of a v3 etcd (count-only reads, nothing is transferred). */
export async function countV3Prefixes(etcd: Etcd3, prefixes: readonly string[] = DEFAULT_PREFIXES): Promise<Array<{ prefix: string; keys: number }>> {
  const out: Array<{ prefix: string; keys: number }> = [];
  for (const prefix of normalisePrefixes(prefixes)) {
    const [range] = prefixRanges([prefix]);
    out.push({ prefix, keys: await countKeys(etcd, range!) });
  }
  return out;
}

/** Prefixes that exist as non-empty directories in a v2 etcd. */
export async function findV2Prefixes(v2: V2Client, prefixes: readonly string[] = DEFAULT_PREFIXES): Promise<string[]> {
  const found: string[] = [];
  for (const prefix of normalisePrefixes(prefixes)) {
    const got = await v2.get(prefix === '/' ? '/' : prefix);
    if (got && (!got.node.dir || (got.node.nodes ?? []).length > 0)) found.push(prefix);
  }
  return found;
}
