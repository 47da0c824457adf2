import type { TestEtcd } from './etcd.js';

export interface KvInfo {
  value: string;
  lease: string;
  createRevision: number;
}

/** Every key of an etcd under the prefixes (`/registry` etc.; none = every key), as etcdctl sees it: base64 key -> value. */
export async function keyspace(etcd: TestEtcd, prefixes: string[] = []): Promise<Map<string, KvInfo>> {
  // Lease ids are 64-bit: keep them as text rather than lose precision in a JS number.
  const text = (await etcd.ctl(['get', '', '--from-key', '-w', 'json'])).replace(/"lease":(\d+)/g, '"lease":"$1"');
  const out = JSON.parse(text) as {
    kvs?: Array<{ key: string; value?: string; lease?: number | string; create_revision: number }>;
  };
  const map = new Map<string, KvInfo>();
  for (const kv of out.kvs ?? []) {
    const key = Buffer.from(kv.key, 'base64').toString('latin1');
    if (prefixes.length > 0 && !prefixes.some((p) => key.startsWith(`${p}/`))) continue;
    map.set(kv.key, { value: kv.value ?? '', lease: String(kv.lease ?? 0), createRevision: kv.create_revision });
  }
  return map;
}

/** key (base64) -> value (base64), for comparing two keyspaces. */
export function values(space: Map<string, KvInfo>): Map<string, string> {
  return new Map([...space].map(([k, v]) => [k, v.value]));
}

/** The base64 form etcdctl uses for a text key. */
export const b64 = (key: string | Buffer) => Buffer.from(key).toString('base64');
