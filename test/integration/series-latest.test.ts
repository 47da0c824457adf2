import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import type { JobView } from '../../src/core/jobs.js';
import { loadDataset } from '../../src/demo/load-dataset.js';
import { sampleDataset } from '../../src/demo/sample-data.js';
import { startApi, type TestApi } from '../helpers/api.js';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { runInProcess } from '../helpers/in-process.js';

/**
 * Series and `latest` in one local store that holds every kind of backup, as a cluster with hourly render listings,
 * daily snapshots and the odd key dump does: retention counts each series on its own (prune and the retention after
 * a backup), and `latest` is the newest backup each command can read, in the CLI and in the API.
 */
let etcd: TestEtcd;
let work: string;

beforeAll(async () => {
  etcd = await startEtcd();
  work = await mkdtemp(join(tmpdir(), 'rs-series-'));
  const client = new Etcd3({ hosts: etcd.endpoint });
  await loadDataset(client, sampleDataset({ namespaces: 2, podsPerNamespace: 2, podSpecBytes: 50 }));
  client.close();
});

afterAll(async () => {
  await Promise.all([etcd?.stop(), work && rm(work, { recursive: true, force: true })]);
});

const envOf = (cluster: string, extra: Record<string, string> = {}) => ({
  RS_ETCD_ENDPOINTS: etcd.endpoint,
  RS_BACKUP_DIR: join(work, 'store'),
  RS_CLUSTER_NAME: cluster,
  ...extra,
});

/** One backup of `strategy` through the CLI; its manifest. */
async function backup(cluster: string, strategy: string, extra: Record<string, string> = {}): Promise<Manifest> {
  const res = await runInProcess(['backup', '--strategy', strategy, '--json'], envOf(cluster, extra));
  expect(res.stderr).toBe('');
  expect(res.code).toBe(0);
  // render prints its listing first; the manifest is the last line.
  const m = JSON.parse(res.stdout.trim().split('\n').at(-1)!) as Manifest;
  expect(m.strategy).toBe(strategy);
  return m;
}

async function listIds(cluster: string, args: string[] = []): Promise<string[]> {
  const res = await runInProcess(['list', '--json', ...args], envOf(cluster));
  expect(res.code).toBe(0);
  return (JSON.parse(res.stdout) as Manifest[]).map((m) => m.id);
}

describe('retention per series', () => {
  const cluster = 'retention';
  const made: Record<string, Manifest> = {};

  beforeAll(async () => {
    // Oldest first; no retention variable is set, so nothing is deleted yet.
    for (const [name, strategy] of [
      ['s1', 'snapshot'], ['r1', 'render'], ['s2', 'snapshot'], ['r2', 'render'], ['w1', 'raw'], ['r3', 'render'],
      ['f1', 'filter:services,deployments'], ['s3', 'snapshot'], ['r4', 'render'], ['f2', 'filter:deployments,services'],
    ] as const) {
      made[name] = await backup(cluster, strategy);
    }
    expect(await listIds(cluster)).toHaveLength(10);
  });

  const idsOf = (...names: string[]) => names.map((n) => made[n]!.id);

  it('prune --dry-run --json: KEEP_LAST=2 keeps two of each series, and says which series each backup is in', async () => {
    const res = await runInProcess(['prune', '--dry-run', '--json'], envOf(cluster, { RS_RETENTION_KEEP_LAST: '2' }));
    expect(res.code).toBe(0);
    const out = JSON.parse(res.stdout) as { dryRun: boolean; deleted: string[]; kept: string[]; decisions: Array<{ id: string; series: string; keep: boolean; reasons: string[] }> };
    expect(out.dryRun).toBe(true);
    expect(out.deleted.sort()).toEqual(idsOf('r2', 'r1', 's1').sort());
    expect(out.kept.sort()).toEqual(idsOf('f2', 'r4', 's3', 'f1', 'r3', 'w1', 's2').sort());
    const seriesOfId = Object.fromEntries(out.decisions.map((d) => [d.id, d.series]));
    expect(seriesOfId).toEqual({
      ...Object.fromEntries(idsOf('s1', 's2', 's3').map((id) => [id, 'snapshot'])),
      ...Object.fromEntries(idsOf('r1', 'r2', 'r3', 'r4').map((id) => [id, 'render'])),
      [made.w1!.id]: 'raw',
      // Both orders of the same resources are one series.
      ...Object.fromEntries(idsOf('f1', 'f2').map((id) => [id, 'filter:deployments,services'])),
    });
    expect(out.decisions.find((d) => d.id === made.w1!.id)!.reasons).toEqual(['newest', 'last']);
    // The newest snapshot or key dump (f2), a base continuous backups could continue, heads no chain here: it is kept
    // as the newest of its series, not `protected`.
    expect(out.decisions.find((d) => d.id === made.f2!.id)!.reasons).toEqual(['newest', 'last']);
    expect(out.decisions.find((d) => d.id === made.s3!.id)!.reasons).toEqual(['newest', 'last']);
    // A dry run deletes nothing.
    expect(await listIds(cluster)).toHaveLength(10);
  });

  it('prune --dry-run as text (the built CLI): a line per backup with its series, then the counts per series', async () => {
    const res = await runCli(['prune', '--dry-run'], envOf(cluster, { RS_RETENTION_KEEP_LAST: '2' }));
    expect(res.code).toBe(0);
    const lines = res.stdout.trim().split('\n');
    expect(lines).toContain(`would delete\t${made.s1!.id}\tsnapshot`);
    expect(lines).toContain(`would delete\t${made.r1!.id}\trender`);
    expect(lines).toContain(`keep\t${made.w1!.id}\traw\tnewest,last`);
    expect(lines).toContain(`keep\t${made.f1!.id}\tfilter:deployments,services\tlast`);
    expect(lines.slice(-5)).toEqual([
      'filter:deployments,services: 2 kept, 0 would delete',
      'raw: 1 kept, 0 would delete',
      'render: 2 kept, 2 would delete',
      'snapshot: 2 kept, 1 would delete',
      '7 kept, 3 would delete',
    ]);
  });

  it('after a backup, retention applies to its own series only: a render backup with KEEP_LAST=1 leaves the other series as they are', async () => {
    const r5 = await backup(cluster, 'render', { RS_RETENTION_KEEP_LAST: '1' });
    expect(await listIds(cluster)).toEqual([r5.id, ...idsOf('f2', 's3', 'f1', 'w1', 's2', 's1')]);
  });

  it('prune --strategy S applies the rules to that series only; prune alone to every series, keeping the newest of each', async () => {
    const snap = await runInProcess(['prune', '--strategy', 'snapshot'], envOf(cluster, { RS_RETENTION_KEEP_LAST: '1' }));
    expect(snap.code).toBe(0);
    expect(snap.stdout.trim().split('\n').slice(-2)).toEqual(['snapshot: 1 kept, 2 deleted', '1 kept, 2 deleted']);
    expect(await listIds(cluster)).toEqual([expect.any(String), ...idsOf('f2', 's3', 'f1', 'w1')]);
    const all = await runInProcess(['prune'], envOf(cluster, { RS_RETENTION_KEEP_LAST: '1' }));
    expect(all.code).toBe(0);
    const ids = await listIds(cluster);
    expect(ids.slice(1)).toEqual(idsOf('f2', 's3', 'w1'));
    // Nothing but manifests and their artifacts is left: the deleted backups' files are gone.
    const files = await readdir(join(work, 'store', cluster));
    expect(files.filter((f) => f.endsWith('.manifest.json'))).toHaveLength(4);
    expect(files).toHaveLength(8);
  });
});

describe('two jobs of one cluster, each with its own retention', () => {
  it('hourly filter: dumps kept 24 deep survive the nightly snapshot job that keeps 1 (found by an operator pass)', async () => {
    const cluster = 'two-jobs';
    const hourly = { RS_RETENTION_KEEP_LAST: '24' };
    const dumps = [];
    for (let i = 0; i < 3; i++) dumps.push(await backup(cluster, 'filter:secrets,configmaps', hourly));
    const s1 = await backup(cluster, 'snapshot', { RS_RETENTION_KEEP_LAST: '1' });
    const s2 = await backup(cluster, 'snapshot', { RS_RETENTION_KEEP_LAST: '1' });
    // The nightly job pruned its own series (s1 went) and none of the hourly job's dumps.
    expect(await listIds(cluster)).toEqual([s2.id, ...dumps.map((m) => m.id).reverse()]);
    expect(s1.id < s2.id).toBe(true);
  });
});

describe('latest is the newest backup the command can read', () => {
  const cluster = 'mixed';
  const env = (extra: Record<string, string> = {}) => envOf(cluster, extra);
  let snap1: Manifest;
  let raw1: Manifest;
  let snap2: Manifest;
  let filter1: Manifest;
  let render1: Manifest;

  beforeAll(async () => {
    snap1 = await backup(cluster, 'snapshot');
    raw1 = await backup(cluster, 'raw');
    snap2 = await backup(cluster, 'snapshot');
    filter1 = await backup(cluster, 'filter:services,deployments');
    render1 = await backup(cluster, 'render');
    expect(await listIds(cluster)).toEqual([render1.id, filter1.id, snap2.id, raw1.id, snap1.id]);
  });

  const json = async <T>(args: string[], extra: Record<string, string> = {}): Promise<T> => {
    const res = await runInProcess(args, env(extra));
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    return JSON.parse(res.stdout) as T;
  };

  it('inspect latest: the newest snapshot, not the newer listing and dumps', async () => {
    expect((await json<{ source: { id: string } }>(['inspect', 'latest', '--json'])).source.id).toBe(snap2.id);
    expect((await json<{ source: { id: string } }>(['inspect', 'latest', '--strategy', 'snapshot', '--json'])).source.id).toBe(snap2.id);
  });

  it('RS_BACKUP_STRATEGY (how backups are taken) does not narrow latest; only --strategy does', async () => {
    expect((await json<{ source: { id: string } }>(['inspect', 'latest', '--json'], { RS_BACKUP_STRATEGY: 'render' })).source.id).toBe(snap2.id);
    expect((await json<{ id: string }>(['verify', 'latest', '--json'], { RS_BACKUP_STRATEGY: 'raw' })).id).toBe(render1.id);
  });

  it('restore latest: the newest key dump; with --keys or --data-dir the newest snapshot', async () => {
    expect((await json<{ id: string; dryRun: boolean }>(['restore', 'latest', '--dry-run', '--json'])).id).toBe(filter1.id);
    expect((await json<{ id: string }>(['restore', 'latest', '--dry-run', '--strategy', 'raw', '--json'])).id).toBe(raw1.id);
    expect((await json<{ id: string }>(['restore', 'latest', '--keys', '--dry-run', '--json'])).id).toBe(snap2.id);
    const dataDir = join(work, 'restored');
    const restored = await json<{ id: string; dataDir: string }>(['restore', 'latest', '--data-dir', dataDir, '--json']);
    expect(restored).toMatchObject({ id: snap2.id, dataDir });
    expect(await readdir(join(dataDir, 'member'))).toEqual(expect.arrayContaining(['snap', 'wal']));
  });

  it('stats latest: the newest backup with stats (a render listing counts), narrowed by --strategy', async () => {
    type Stats = { source: { id: string; strategy: string }; keys: number };
    const newest = await json<Stats>(['stats', 'latest', '--json']);
    expect(newest.source).toMatchObject({ id: render1.id, strategy: 'render' });
    const snap = await json<Stats>(['stats', 'latest', '--strategy', 'snapshot', '--json']);
    expect(snap.source.id).toBe(snap2.id);
    expect(snap.keys).toBe(newest.keys);
    // The filter series named with its resources in the other order.
    expect((await json<Stats>(['stats', 'latest', '--strategy', 'filter:deployments,services', '--json'])).source.id).toBe(filter1.id);
  });

  it('verify latest: any backup; --strategy narrows it', async () => {
    expect((await json<{ id: string; ok: boolean }>(['verify', 'latest', '--json']))).toMatchObject({ id: render1.id, ok: true });
    expect((await json<{ id: string }>(['verify', '--strategy', 'raw', '--json'])).id).toBe(raw1.id);
  });

  it('verify latest as text names the backup it picked before its checks (found by an operator pass)', async () => {
    // `backup && verify` in a nightly job: an hourly listing stored in between is what `latest` verifies.
    const res = await runInProcess(['verify'], env());
    expect(res.code).toBe(0);
    const lines = res.stdout.trim().split('\n');
    expect(lines[0]).toBe(`backup ${render1.id} (render, revision ${render1.etcd!.revision}, taken ${render1.createdAt})`);
    expect(lines.slice(1).map((l) => l.split('\t')[0])).toEqual(['ok  ', 'ok  ', 'ok  ', 'ok  ', 'ok  ']);
    const raw = await runInProcess(['verify', '--strategy', 'raw'], env());
    expect(raw.stdout.split('\n')[0]).toBe(`backup ${raw1.id} (raw, revision ${raw1.etcd!.revision}, taken ${raw1.createdAt})`);
  });

  it('diff ... latest: the newest snapshot or key dump, never a render listing', async () => {
    const d = await json<{ from: { id: string }; to: { id: string } }>(['diff', snap1.id, 'latest', '--json']);
    expect(d.from.id).toBe(snap1.id);
    expect(d.to.id).toBe(filter1.id);
    const snaps = await json<{ from: { id: string }; to: { id: string } }>(['diff', snap1.id, 'latest', '--strategy', 'snapshot', '--json']);
    expect(snaps.to.id).toBe(snap2.id);
  });

  it('list --strategy lists one series', async () => {
    expect(await listIds(cluster, ['--strategy', 'snapshot'])).toEqual([snap2.id, snap1.id]);
    expect(await listIds(cluster, ['--strategy', 'filter:deployments,services'])).toEqual([filter1.id]);
    const none = await runInProcess(['list', '--strategy', 'filter:secrets'], env());
    expect(none.stdout.trim()).toBe(`no backups of series "filter:secrets" of cluster "${cluster}" in ${join(work, 'store')}`);
  });

  it('fails naming what the store holds when nothing fits (exit 1), and a bad --strategy is a usage error (exit 2)', async () => {
    const wrong = await runInProcess(['inspect', 'latest', '--strategy', 'render'], env());
    expect(wrong.code).toBe(1);
    expect(wrong.stderr.trim()).toBe(
      `reshifter: no snapshot backup of series "render" of cluster "${cluster}" in ${join(work, 'store')}; ` +
        `the newest of that series is a render listing (${render1.id}, ${render1.createdAt}): \`inspect\` shows the status of snapshots only (its --keys, --get and --render read key dumps too)`,
    );
    const missing = await runInProcess(['restore', 'latest', '--dry-run', '--strategy', 'filter:secrets'], env());
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no backup of series "filter:secrets"');
    expect(missing.stderr).toContain('its series are render (1), filter:deployments,services (1), snapshot (2), raw (1)');
    const bad = await runInProcess(['verify', 'latest', '--strategy', 'everything'], env());
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/should be one of snapshot, raw, render, filter:/);
  });

  it('a store of render listings only: inspect, restore and diff say so; stats and verify read the listing', async () => {
    const listings = 'listings';
    const only = await backup(listings, 'render');
    const inspect = await runInProcess(['inspect', 'latest'], envOf(listings));
    expect(inspect.code).toBe(1);
    expect(inspect.stderr).toContain(`no snapshot backup of cluster "${listings}"`);
    expect(inspect.stderr).toContain(`the newest backup is a render listing (${only.id}, ${only.createdAt}): \`inspect\` shows the status of snapshots only (its --keys, --get and --render read key dumps too)`);
    const restore = await runInProcess(['restore', 'latest', '--dry-run'], envOf(listings));
    expect(restore.code).toBe(1);
    expect(restore.stderr).toContain('no key dump backup');
    const diff = await runInProcess(['diff', only.id, 'latest'], envOf(listings));
    expect(diff.code).toBe(1);
    expect(diff.stderr).toContain('`diff` compares snapshots and key dumps');
    const stats = await runInProcess(['stats', 'latest', '--json'], envOf(listings));
    expect((JSON.parse(stats.stdout) as { source: { id: string } }).source.id).toBe(only.id);
  });

  describe('the HTTP API picks the same way', () => {
    const TOKEN = 'series-test-token-8c2d1f';
    const auth = { token: TOKEN };
    let api: TestApi;
    beforeAll(async () => {
      api = await startApi({ ...env(), RS_API_TOKEN: TOKEN });
    });
    afterAll(async () => {
      await api?.stop();
    });
    const get = async <T>(path: string): Promise<T> => {
      const res = await api.call(path, auth);
      expect(res.status, path).toBe(200);
      return (await res.json()) as T;
    };
    const startJob = async (path: string, body?: unknown): Promise<JobView> => {
      const res = await api.call(path, { method: 'POST', ...auth, ...(body !== undefined && { json: body }) });
      expect(res.status, path).toBe(202);
      return api.waitJob(((await res.json()) as JobView).id, TOKEN);
    };

    it('details, list and download: any backup, narrowed by ?strategy', async () => {
      expect((await get<Manifest>('/api/v1/backups/latest')).id).toBe(render1.id);
      expect((await get<Manifest>('/api/v1/backups/latest?strategy=snapshot')).id).toBe(snap2.id);
      expect((await get<Manifest[]>('/api/v1/backups?strategy=filter:deployments,services')).map((m) => m.id)).toEqual([filter1.id]);
      const artifact = await api.call('/api/v1/backups/latest/artifact?strategy=raw', auth);
      expect(artifact.headers.get('x-content-sha256')).toBe(raw1.sha256);
      await artifact.arrayBuffer();
    });

    it('stats/latest: the newest with stats; diff to=latest: the newest comparable', async () => {
      expect((await get<{ source: { id: string } }>('/api/v1/stats/latest')).source.id).toBe(render1.id);
      expect((await get<{ source: { id: string } }>('/api/v1/stats/latest?strategy=raw')).source.id).toBe(raw1.id);
      const d = await get<{ from: { id: string }; to: { id: string } }>(`/api/v1/diff?from=${snap1.id}&to=latest`);
      expect(d.to.id).toBe(filter1.id);
    });

    it('restore with backupId "latest": the newest restorable backup, never the newer render listing', async () => {
      const plan = await startJob('/api/v1/restores', { backupId: 'latest', dryRun: true });
      expect(plan).toMatchObject({ state: 'succeeded', params: { backupId: filter1.id } });
      expect((plan.result as { id: string }).id).toBe(filter1.id);
      const snap = await startJob('/api/v1/restores', { backupId: 'latest', strategy: 'snapshot', dryRun: true });
      expect(snap.params.backupId).toBe(snap2.id);
      const verify = await startJob('/api/v1/backups/latest/verify?strategy=raw');
      expect(verify).toMatchObject({ state: 'succeeded', params: { backupId: raw1.id }, result: { id: raw1.id, ok: true } });
    });

    it('404 naming the series when none fits; 400 naming strategy when it is no strategy', async () => {
      const none = await api.call('/api/v1/restores', { method: 'POST', ...auth, json: { backupId: 'latest', strategy: 'render', dryRun: true } });
      expect(none.status).toBe(404);
      const body = (await none.json()) as { error: string; field: string };
      expect(body.field).toBe('backupId');
      expect(body.error).toContain(`no key dump or snapshot backup of series "render" of cluster "${cluster}"`);
      const bad = await api.call('/api/v1/backups/latest?strategy=everything', auth);
      expect(bad.status).toBe(400);
      expect(((await bad.json()) as { field: string }).field).toBe('strategy');
    });
  });
});
