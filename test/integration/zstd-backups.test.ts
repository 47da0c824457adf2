import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import { loadDataset } from '../../src/demo/load-dataset.js';
import { sampleDataset } from '../../src/demo/sample-data.js';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { runInProcess } from '../helpers/in-process.js';
import { keyspace, values } from '../helpers/keyspace.js';

/**
 * zstd backups end to end: snapshots and key dumps taken by the built CLI with RS_COMPRESSION=zstd, read back by every
 * reader (verify, restore, inspect, stats, diff) and by the zstd CLI, alone and under age.
 */
const run = promisify(execFile);
const CTL_ENV = { ...process.env, ETCDCTL_API: '3' };
const PREFIXES = ['/registry', '/kubernetes.io', '/openshift.io'];

interface Check {
  name: string;
  ok: boolean;
  detail: string;
}
interface Verified {
  ok: boolean;
  checks: Check[];
}

let source: TestEtcd;
let work: string;
let store: string;
let snap: Manifest;
let raw: Manifest;
let gzipRaw: Manifest;

const env = (extra: Record<string, string> = {}) => ({ RS_ETCD_ENDPOINTS: source.endpoint, RS_BACKUP_DIR: store, RS_COMPRESSION: 'zstd', ...extra });
const artifactPath = (m: Manifest) => join(store, m.cluster, m.artifact);

async function backup(extra: Record<string, string> = {}): Promise<Manifest> {
  const res = await runCli(['backup', '--json'], env(extra));
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(res.stdout) as Manifest;
}

async function verify(id: string, extra: Record<string, string> = {}): Promise<Verified> {
  return JSON.parse((await runInProcess(['verify', id, '--json'], env(extra))).stdout) as Verified;
}

beforeAll(async () => {
  source = await startEtcd();
  work = await mkdtemp(join(tmpdir(), 'rs-zstd-'));
  store = join(work, 'store');
  const client = new Etcd3({ hosts: source.endpoint });
  try {
    await loadDataset(client, sampleDataset({ namespaces: 3, podsPerNamespace: 6, edgeCases: true }));
  } finally {
    client.close();
  }
  // A gzip dump first: readers pick the decoder by each backup's manifest, so both kinds mix in one store.
  gzipRaw = await backup({ RS_COMPRESSION: 'gzip', RS_BACKUP_STRATEGY: 'raw' });
  await source.ctl(['put', '/registry/configmaps/default/zstd-was-here', 'yes']);
  snap = await backup();
  raw = await backup({ RS_BACKUP_STRATEGY: 'raw' });
});

afterAll(async () => {
  await Promise.all([source?.stop(), work && rm(work, { recursive: true, force: true })]);
});

describe('zstd snapshot backups', () => {
  it('are <id>.snapshot.db.zst, and zstd -d of the artifact is the snapshot etcdctl reads, as inspect reads it', async () => {
    expect(gzipRaw).toMatchObject({ compression: 'gzip', artifact: expect.stringMatching(/\.raw\.tar\.gz$/) as unknown });
    expect(snap).toMatchObject({ strategy: 'snapshot', compression: 'zstd', contentType: 'etcd-snapshot', artifact: `${snap.id}.snapshot.db.zst` });
    const db = join(work, 'snap.db');
    await run('zstd', ['-q', '-d', artifactPath(snap), '-o', db]);
    const decoded = await readFile(db);
    expect(decoded.length).toBe(snap.rawSizeBytes);
    const status = JSON.parse((await run('etcdctl', ['snapshot', 'status', '-w', 'json', db], { env: CTL_ENV })).stdout) as Record<string, number>;
    expect(status.totalKey).toBeGreaterThan(50);
    const inspected = JSON.parse((await runInProcess(['inspect', snap.id, '--json'], env())).stdout) as Record<string, unknown>;
    expect(inspected).toMatchObject({ hash: status.hash, revision: status.revision, totalKey: status.totalKey, totalSize: status.totalSize, trailer: { present: true, match: true } });
    // Frames the zstd CLI lists: 1 MiB each, sizes and checksums in their headers.
    const listed = execFileSync('zstd', ['-lv', artifactPath(snap)], { encoding: 'utf8' });
    expect(listed).toContain(`Decompressed Size: `);
    expect(listed).toMatch(/Check: XXH64/);
    expect(Number(/# Zstandard Frames: (\d+)/.exec(listed)![1])).toBe(Math.ceil(snap.rawSizeBytes / (1024 * 1024)));
  });

  it('verify passes every check, the decompress step and the walk of the snapshot included', async () => {
    const v = await verify(snap.id);
    expect(v.checks.filter((c) => !c.ok)).toEqual([]);
    expect(v.checks.map((c) => c.name)).toEqual(expect.arrayContaining(['size', 'sha256', 'decompress', 'raw-size', 'content']));
    expect(v.checks.some((c) => c.name.startsWith('snapshot '))).toBe(true);
  });

  it('restores into a new data directory that etcd starts on with every key, and restores its keys into an empty etcd', async () => {
    const dataDir = join(work, 'member');
    const res = await runCli(['restore', snap.id, '--data-dir', dataDir, '--name', 'z', '--initial-cluster', 'z=http://127.0.0.1:2380', '--initial-advertise-peer-urls', 'http://127.0.0.1:2380'], env());
    expect(res.code, res.stderr).toBe(0);
    const expected = values(await keyspace(source, PREFIXES));
    const restored = await startEtcd({ dataDir });
    const empty = await startEtcd();
    try {
      expect(values(await keyspace(restored, PREFIXES))).toEqual(expected);
      const keys = await runInProcess(['restore', snap.id, '--keys'], env({ RS_ETCD_ENDPOINTS: empty.endpoint }));
      expect(keys.code, keys.stderr).toBe(0);
      expect(values(await keyspace(empty, PREFIXES))).toEqual(expected);
    } finally {
      await Promise.all([restored.stop(), empty.stop()]);
    }
  });
});

describe('zstd key dumps', () => {
  it('are <id>.raw.tar.zst that zstd -d | tar lists, verify and restore into an empty etcd', async () => {
    expect(raw).toMatchObject({ strategy: 'raw', compression: 'zstd', contentType: 'tar', artifact: `${raw.id}.raw.tar.zst` });
    const listing = execFileSync('sh', ['-c', `zstd -dc '${artifactPath(raw)}' | tar -t | head -3`], { encoding: 'utf8' });
    expect(listing.split('\n').slice(0, 2)).toEqual(['reshifter-dump.json', expect.stringMatching(/^keys\//)]);
    expect((await verify(raw.id)).checks.filter((c) => !c.ok)).toEqual([]);
    const empty = await startEtcd();
    try {
      const res = await runInProcess(['restore', raw.id], env({ RS_ETCD_ENDPOINTS: empty.endpoint }));
      expect(res.code, res.stderr).toBe(0);
      expect(values(await keyspace(empty, PREFIXES))).toEqual(values(await keyspace(source, PREFIXES)));
    } finally {
      await empty.stop();
    }
  });

  it('stats of zstd backups equal the live ones; diff reads zstd and gzip backups alike', async () => {
    const live = JSON.parse((await runInProcess(['stats', '--json'], env())).stdout) as { byResource: unknown };
    for (const m of [raw, snap]) {
      const stored = JSON.parse((await runInProcess(['stats', m.id, '--json'], env())).stdout) as { byResource: unknown };
      expect(stored.byResource, m.strategy).toEqual(live.byResource);
    }
    const same = JSON.parse((await runInProcess(['diff', snap.id, raw.id, '--json'], env())).stdout) as { summary: unknown };
    expect(same.summary).toMatchObject({ added: 0, removed: 0, changed: 0 });
    const d = JSON.parse((await runInProcess(['diff', gzipRaw.id, snap.id, '--json'], env())).stdout) as { summary: unknown; objects: unknown[] };
    expect(d.summary).toMatchObject({ added: 1, removed: 0, changed: 0 });
    expect(d.objects).toEqual([expect.objectContaining({ change: 'added', key: '/registry/configmaps/default/zstd-was-here' })]);
  });
});

describe('damaged and encrypted zstd backups', () => {
  it('a damaged frame fails the decompress check by name, even when the manifest is forged to match it', async () => {
    const bytes = Buffer.from(await readFile(artifactPath(raw)));
    // A byte in the middle of the first frame's blocks: the sizes still add up, the frame's checksum does not.
    bytes[Math.floor(Math.min(bytes.length, 1024 * 256) / 2)]! ^= 0x55;
    const id = raw.id.replace(/-[0-9a-f]+$/, '-bad001');
    const forged: Manifest = {
      ...raw, id, artifact: `${id}.raw.tar.zst`, createdAt: new Date(Date.parse(raw.createdAt) - 60_000).toISOString(),
      sha256: createHash('sha256').update(bytes).digest('hex'), sizeBytes: bytes.length,
    };
    await writeFile(join(store, raw.cluster, forged.artifact), bytes);
    await writeFile(join(store, raw.cluster, `${id}.manifest.json`), `${JSON.stringify(forged, null, 2)}\n`);
    const v = await verify(id);
    expect(v.ok).toBe(false);
    expect(v.checks.find((c) => !c.ok)).toMatchObject({ name: 'decompress', detail: expect.stringMatching(/zstd frame at byte \d+ does not decode/) as unknown });
    const empty = await startEtcd();
    try {
      const res = await runInProcess(['restore', id], env({ RS_ETCD_ENDPOINTS: empty.endpoint }));
      expect(res.code).toBe(1);
      expect(res.stderr).toMatch(/decompress/);
    } finally {
      await empty.stop();
    }
    await rm(join(store, raw.cluster, `${id}.manifest.json`));
  });

  it('age on top: <id>.snapshot.db.zst.age, age -d | zstd -d gives the snapshot etcdctl reads, verify with the identity', async () => {
    const keyFile = join(work, 'key.txt');
    execFileSync('age-keygen', ['-o', keyFile], { stdio: 'pipe' });
    const recipient = /public key: (age1\w+)/.exec(await readFile(keyFile, 'utf8'))![1]!;
    const enc = await backup({ RS_ENCRYPTION_RECIPIENTS: recipient, RS_CLUSTER_NAME: 'sealed' });
    expect(enc).toMatchObject({ compression: 'zstd', encryption: 'age', artifact: `${enc.id}.snapshot.db.zst.age` });
    const db = join(work, 'sealed.db');
    execFileSync('sh', ['-c', `age -d -i '${keyFile}' '${artifactPath(enc)}' | zstd -d -q -o '${db}'`]);
    const status = JSON.parse((await run('etcdctl', ['snapshot', 'status', '-w', 'json', db], { env: CTL_ENV })).stdout) as Record<string, number>;
    expect(status.totalKey).toBeGreaterThan(50);
    const v = await verify(enc.id, { RS_CLUSTER_NAME: 'sealed', RS_ENCRYPTION_IDENTITY_FILE: keyFile });
    expect(v.checks.filter((c) => !c.ok)).toEqual([]);
    expect(v.checks.map((c) => c.name)).toContain('decrypt+decompress');
  });
});
