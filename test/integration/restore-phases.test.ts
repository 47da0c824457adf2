import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Etcd3 } from 'etcd3';
import type { DumpItem } from '../../src/archive/key-dump-reader.js';
import { DUMP_FORMAT, DUMP_VERSION } from '../../src/archive/key-dump-format.js';
import type { KeyStream } from '../../src/core/key-record.js';
import type { OpContext } from '../../src/ops/context.js';
import { restoreKeys } from '../../src/ops/restore-keys.js';
import { loadConfig } from '../../src/config/load-config.js';
import { createLogger } from '../../src/log.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';

/**
 * The order of a key restore (namespaces, then CRDs, then the rest), whether the CRDs are held through the first
 * pass or get a pass of their own, and how many passes over the backup each way takes.
 */
const NAMESPACES = ['default', 'team-a', 'team-b'].map((n) => `/registry/namespaces/${n}`);
const CRDS = ['gadgets.example.com', 'widgets.example.com'].map((n) => `/registry/apiextensions.k8s.io/customresourcedefinitions/${n}`);
const REST = ['/registry/configmaps/default/web', '/registry/example.com/widgets/team-a/w1', '/registry/pods/team-b/api-0'];
// A dump is in key order: CRDs and configmaps come before the namespaces, pods after them.
const KEYS = [...CRDS, ...REST, ...NAMESPACES].sort();

function dump(): Iterable<DumpItem> {
  const items: DumpItem[] = [
    {
      type: 'header',
      header: { format: DUMP_FORMAT, version: DUMP_VERSION, apiVersion: 'v3', etcdVersion: '3.4.23', revision: 10, prefixes: ['/registry'], createdAt: new Date(0).toISOString() },
    },
  ];
  for (const [i, key] of KEYS.entries()) {
    items.push({ type: 'key', record: { key: Buffer.from(key), value: Buffer.from(`value of ${key.split('/').at(-1)}`), createRevision: i + 1, modRevision: i + 1, version: 1 } });
  }
  return items;
}

let etcds: TestEtcd[] = [];
beforeAll(async () => {
  etcds = await Promise.all([startEtcd(), startEtcd()]);
});
afterAll(async () => {
  await Promise.all(etcds.map((e) => e.stop()));
});

async function restore(target: TestEtcd, crdHoldBytes?: number): Promise<{ passes: number; revisions: Map<string, number>; values: Map<string, string> }> {
  const loaded = loadConfig({ RS_ETCD_ENDPOINTS: target.endpoint, RS_BACKUP_DIR: '/nonexistent' });
  if (!loaded.config) throw new Error(loaded.errors.join('; '));
  const ctx: OpContext = { config: loaded.config, log: createLogger('silent'), signal: new AbortController().signal };
  let passes = 0;
  const [head] = dump();
  const stream: KeyStream = {
    header: (head as Extract<DumpItem, { type: 'header' }>).header,
    async *records() {
      passes++;
      // Each pass gets freshly made items, as a new read of the backup would.
      for (const item of dump()) if (item.type === 'key') yield item.record;
    },
  };
  const report = await restoreKeys(ctx, 'test', stream, { dryRun: false, skipExisting: false, ...(crdHoldBytes !== undefined && { crdHoldBytes }) });
  expect(report.written).toBe(KEYS.length);
  const client = new Etcd3({ hosts: target.endpoint });
  try {
    const kvs = await client.getAll().prefix('/registry/').exec();
    return {
      passes,
      revisions: new Map(kvs.kvs.map((kv) => [kv.key.toString(), Number(kv.create_revision)])),
      values: new Map(kvs.kvs.map((kv) => [kv.key.toString(), kv.value.toString()])),
    };
  } finally {
    client.close();
  }
}

function expectOrder(revisions: Map<string, number>): void {
  const rev = (k: string) => revisions.get(k)!;
  const lastNamespace = Math.max(...NAMESPACES.map(rev));
  const firstCrd = Math.min(...CRDS.map(rev));
  const lastCrd = Math.max(...CRDS.map(rev));
  const firstOther = Math.min(...REST.map(rev));
  expect(lastNamespace).toBeLessThan(firstCrd);
  expect(lastCrd).toBeLessThan(firstOther);
}

describe('key restore phases', () => {
  it('holds the CRDs through the first pass: two passes, namespaces then CRDs then the rest, values intact', async () => {
    const got = await restore(etcds[0]!);
    expect(got.passes).toBe(2);
    expectOrder(got.revisions);
    expect(got.revisions.size).toBe(KEYS.length);
    for (const k of KEYS) expect(got.values.get(k)).toBe(`value of ${k.split('/').at(-1)}`);
  });

  it('gives CRDs a pass of their own when they outgrow what may be held: three passes, the same order', async () => {
    const got = await restore(etcds[1]!, 10);
    expect(got.passes).toBe(3);
    expectOrder(got.revisions);
    for (const k of KEYS) expect(got.values.get(k)).toBe(`value of ${k.split('/').at(-1)}`);
  });
});
