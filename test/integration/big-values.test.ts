import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import { dumpDigests, etcdDigests, loadHelmLikeValues } from '../helpers/big-values.js';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { runInProcess } from '../helpers/in-process.js';
import { runCliPeakRss } from '../helpers/peak-rss.js';

/**
 * Issue 11: an etcd holding runs of big values, as real clusters do. Helm v3 keeps every release as a Secret of up
 * to ~1 MB; 200 of them in a row and 1000 ConfigMaps of ~150 KB once made the first page (500 keys) a reply over
 * gRPC's 64 MiB limit, and the etcd3 client's circuit breaker turned the retry into "circuit breaker is open". One
 * etcd is loaded once and shared by the tests of this file, which run in order.
 */
const RELEASES = 200;
const CONFIGMAPS = 1000;
let source: TestEtcd;
let target: TestEtcd;
let work: string;
let loaded: { keys: number; bytes: number };
let dump: Manifest;

beforeAll(async () => {
  [source, target] = await Promise.all([startEtcd(), startEtcd()]);
  work = await mkdtemp(join(tmpdir(), 'rs-big-values-'));
  loaded = await loadHelmLikeValues(source.endpoint, { releases: RELEASES, releaseBytes: 1_000_000, configMaps: CONFIGMAPS, configMapBytes: 150_000 });
}, 180_000);

afterAll(async () => {
  await Promise.all([source?.stop(), target?.stop(), work && rm(work, { recursive: true, force: true })]);
});

const env = (etcd: TestEtcd, extra: Record<string, string> = {}) => ({ RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: join(work, 'store'), ...extra });

interface Stats {
  keys: number;
  valueBytes: number;
  keyBytes: number;
  byResource: Record<string, { keys: number; bytes: number }>;
  source: { revision: number };
}

describe('a cluster of big values', () => {
  it('raw backup succeeds with every key and value, its peak RSS under 250 MB', async () => {
    const res = await runCliPeakRss(['backup', '--strategy', 'raw', '--json'], env(source), 180_000);
    expect(res.stderr).not.toMatch(/circuit breaker|this is a bug/);
    expect(res.code, res.stderr).toBe(0);
    dump = JSON.parse(res.stdout) as Manifest;
    expect(dump).toMatchObject({ strategy: 'raw', keys: RELEASES + CONFIGMAPS });
    // The dump holds every value byte for byte (gzip, the default, included), at the revision of the load.
    const [inDump, inEtcd] = await Promise.all([dumpDigests(join(work, 'store', 'default', dump.artifact)), etcdDigests(source.endpoint)]);
    expect(inDump.values).toEqual(inEtcd);
    expect(inDump.revision).toBe(dump.etcd!.revision);
    // One page in memory at a time, whatever the values: Node and the clients alone take ~80 MB.
    expect(res.peakRssMB).toBeLessThan(250);
  }, 240_000);

  it('stats of the live etcd and of the backup succeed and agree', async () => {
    // At once: one reads etcd, the other the store.
    const [live, stored] = await Promise.all([
      runCli(['stats', '--json'], env(source), { timeoutMs: 120_000 }),
      runCli(['stats', dump.id, '--json'], env(source), { timeoutMs: 120_000 }),
    ]);
    expect(live.code, live.stderr).toBe(0);
    expect(stored.code, stored.stderr).toBe(0);
    const a = JSON.parse(live.stdout) as Stats;
    const b = JSON.parse(stored.stdout) as Stats;
    expect(a.keys).toBe(RELEASES + CONFIGMAPS);
    expect(a.valueBytes + a.keyBytes).toBe(loaded.bytes);
    expect(a.byResource.secrets!.keys).toBe(RELEASES);
    expect(a.byResource.configmaps!.keys).toBe(CONFIGMAPS);
    expect({ ...b, source: undefined }).toEqual({ ...a, source: undefined });
    expect(b.source.revision).toBe(a.source.revision);
  }, 240_000);

  it('render lists every key and explore counts them', async () => {
    const render = await runCli(['backup', '--strategy', 'render', '--cluster', 'audit', '--json'], env(source), { timeoutMs: 120_000 });
    expect(render.code, render.stderr).toBe(0);
    const rows = render.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const m = rows.pop() as unknown as Manifest;
    expect(m).toMatchObject({ strategy: 'render', keys: RELEASES + CONFIGMAPS });
    expect(rows.find((r) => r.key === `/registry/secrets/default/sh.helm.release.v1.app.v${RELEASES}`)).toMatchObject({
      kind: 'Secret', namespace: 'default', labels: { owner: 'helm', status: 'deployed' }, encoding: 'json',
    });
    const explored = await runInProcess(['explore', '--json'], env(source));
    expect(JSON.parse(explored.stdout)).toMatchObject({ kubernetes: { prefixes: [{ prefix: '/registry', keys: RELEASES + CONFIGMAPS, api: 'v3' }] } });
  }, 240_000);

  it('restores into an empty etcd: every key and value identical', async () => {
    const res = await runCli(['restore', dump.id, '--json'], env(target), { timeoutMs: 180_000 });
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ written: RELEASES + CONFIGMAPS, totals: { create: RELEASES + CONFIGMAPS } });
    const [restored, original] = await Promise.all([etcdDigests(target.endpoint), etcdDigests(source.endpoint)]);
    expect(restored).toEqual(original);
  }, 240_000);

  it('restores small values over big ones: the target is read in parts, whatever its values weigh', async () => {
    // A dump of the same Secrets with small values: its batches hold 128 keys, whose ~1 MB values in the target
    // would make a 128 MB reply if read at once.
    const client = new Etcd3({ hosts: source.endpoint });
    try {
      for (let i = 1; i <= RELEASES; i += 50) {
        const success = Array.from({ length: Math.min(50, RELEASES - i + 1) }, (_, j) => ({
          request_put: { key: Buffer.from(`/registry/secrets/default/sh.helm.release.v1.app.v${i + j}`), value: Buffer.from(`{"kind":"Secret","v":${i + j}}`) },
        }));
        await client.kv.txn({ compare: [], success, failure: [] });
      }
    } finally {
      client.close();
    }
    const small = await runCli(['backup', '--strategy', 'filter:secrets', '--cluster', 'small', '--json'], env(source));
    expect(small.code, small.stderr).toBe(0);
    const m = JSON.parse(small.stdout) as Manifest;
    const res = await runCli(['restore', m.id, '--cluster', 'small', '--json'], env(target), { timeoutMs: 120_000 });
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ written: RELEASES, totals: { update: RELEASES, create: 0 } });
    const [restored, original] = await Promise.all([etcdDigests(target.endpoint), etcdDigests(source.endpoint)]);
    expect(restored).toEqual(original);
  }, 240_000);
});
