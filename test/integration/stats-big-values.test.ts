import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadHelmLikeValues } from '../helpers/big-values.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { runInProcess } from '../helpers/in-process.js';

/**
 * Before: `stats` decoded every value to count it per encoding: a JSON.parse of each Helm release Secret of ~1 MB (its
 * string and object tree on the heap) and of each 150 KB ConfigMap, only to report `json`, which the value's first
 * byte says. Stats of a 583 MB Helm-like snapshot peaked at 261 MB RSS (2.3 CPU-s); 212-225 MB (1.8-2.0) without.
 */
let etcd: TestEtcd;

beforeAll(async () => {
  etcd = await startEtcd();
  await loadHelmLikeValues(etcd.endpoint, { releases: 6, releaseBytes: 1_000_000, configMaps: 10, configMapBytes: 150_000 });
}, 60_000);

afterAll(async () => {
  await etcd?.stop();
});

describe('stats of big values', () => {
  it('counts values per encoding from their first bytes, parsing none of them', async () => {
    const parse = JSON.parse;
    let largest = 0;
    JSON.parse = ((text: string, ...rest: unknown[]) => {
      largest = Math.max(largest, text.length);
      return (parse as (t: string, ...r: unknown[]) => unknown)(text, ...rest);
    }) as typeof JSON.parse;
    let res;
    try {
      res = await runInProcess(['stats', '--json'], { RS_ETCD_ENDPOINTS: etcd.endpoint });
    } finally {
      JSON.parse = parse;
    }
    expect(res.code, res.stderr).toBe(0);
    expect(largest).toBeLessThan(100_000);
    const stats = JSON.parse(res.stdout) as { keys: number; byEncoding: Record<string, { keys: number }> };
    expect(stats.keys).toBe(16);
    expect(stats.byEncoding.json?.keys).toBe(16);
  });
});
