import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  openSnapshot,
  snapshotStatus,
  SnapshotRevisionError,
  type LiveKey,
  type SnapshotReader,
} from '../../../src/snapshot/index.js';
import { comparable, parseGetJson } from './etcdctl-json.js';

// A real etcd 3.4 snapshot and what etcdctl said about it (fixtures/generate-small-db.sh).
const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const DB = fixture('small.db');

async function collect(iterable: AsyncIterable<LiveKey>): Promise<LiveKey[]> {
  const out: LiveKey[] = [];
  for await (const k of iterable) out.push(k);
  return out;
}

describe('small real snapshot', () => {
  let reader: SnapshotReader;
  beforeAll(async () => {
    reader = await openSnapshot(DB);
  });
  afterAll(async () => {
    await reader.close();
  });

  it('has the status etcdctl computed, and a matching sha256 trailer', async () => {
    const expected = JSON.parse(await readFile(fixture('small-status.json'), 'utf8')) as Record<string, number>;
    expect(await reader.status()).toEqual({ ...expected, trailer: 'match' });
    expect(await snapshotStatus(DB)).toEqual({ ...expected, trailer: 'match' });
  });

  it('has the live keys etcdctl returned, with values, revisions, versions and leases', async () => {
    const expected = parseGetJson(await readFile(fixture('small-get.json'), 'utf8'));
    const keys = await collect(reader.liveKeys());
    expect(keys.map(comparable)).toEqual(expected.kvs.map(comparable));
    // The fixture covers the cases that matter: overflow values, an empty value, a leased key.
    expect(keys.some((k) => k.value.length > 8000)).toBe(true);
    expect(keys.some((k) => k.value.length === 0)).toBe(true);
    expect(keys.some((k) => k.lease !== 0n)).toBe(true);
  });

  it('filters by prefix', async () => {
    const keys = await collect(reader.liveKeys({ prefix: '/registry/secrets/' }));
    expect(keys.map((k) => k.key.toString())).toEqual(['/registry/secrets/ns-0/big', '/registry/secrets/ns-1/bigger']);
    expect(await collect(reader.liveKeys({ prefix: Buffer.from('/nothing/') }))).toEqual([]);
  });

  it('refuses revisions compacted away or newer than the snapshot', async () => {
    const { revision } = await reader.status();
    await expect(collect(reader.liveKeys({ revision: 5 }))).rejects.toThrow(SnapshotRevisionError);
    await expect(collect(reader.liveKeys({ revision: 5 }))).rejects.toThrow(/revision 5 has been compacted/);
    await expect(collect(reader.liveKeys({ revision: revision + 1 }))).rejects.toThrow(/newer than this snapshot/);
    // The latest revision itself is the default state.
    const latest = await collect(reader.liveKeys({ revision }));
    expect(latest.map((k) => k.key.toString())).toEqual((await collect(reader.liveKeys())).map((k) => k.key.toString()));
  });

  it('reads the lease of the leased key', async () => {
    const leases = await reader.leases();
    const leased = (await collect(reader.liveKeys())).find((k) => k.lease !== 0n);
    expect(leases).toHaveLength(1);
    expect(leases[0]).toMatchObject({ id: leased?.lease, ttl: 600 });
  });

  it('iterates a bucket in key order', async () => {
    const names: string[] = [];
    for await (const e of reader.entries('meta')) names.push(e.key.toString());
    expect(names).toContain('consistent_index');
    expect(names).toContain('finishedCompactRev');
    expect([...names].sort()).toEqual(names);
  });

  it('passes every verify check', async () => {
    const checks = await reader.verify();
    expect(checks.filter((c) => c.level !== 'pass')).toEqual([]);
    expect(checks.map((c) => c.name)).toEqual(expect.arrayContaining([
      'meta page 0', 'meta page 1', 'pages', 'key order', 'sha256 trailer', 'etcd key bucket',
    ]));
  });
});
