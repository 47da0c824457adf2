import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { zstdDecompressSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi } from '../helpers/api.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { runInProcess } from '../helpers/in-process.js';
import { startS3, type TestS3 } from '../helpers/s3.js';

/**
 * An operator upgrades reshifter in place (new image, same bucket): the store holds what every earlier version wrote.
 * test/fixtures/compat holds the artifacts three earlier builds wrote of one small cluster (README there: which commit,
 * which command): snapshots (gzip, zstd, age), key dumps (raw, age, filter:secrets uncompressed), render listings and
 * delta chains. Today's build reads each of them as the operator would: list, verify (and --chain), stats, inspect,
 * diff, restore into an empty etcd (a key dump, a snapshot's keys, a chain --to latest), restore --snapshot-file and
 * --data-dir, prune, the API's list; from a local folder and from S3.
 */
const FIXTURES = new URL('../fixtures/compat/', import.meta.url).pathname;
const IDENTITY = join(FIXTURES, 'age-identity.txt');
const VERSIONS = ['v20261122-8702e40', 'v20261204-89b1126', 'v20261207-e8eff6b'];
const SECRET = '/registry/secrets/default/db-password';
const BIG = '/registry/configmaps/team-a/big';

interface Listed {
  id: string;
  sizeBytes: number;
  strategy: string;
  artifact: string;
  base?: string;
}

let etcd: TestEtcd;
let work: string;
beforeAll(async () => {
  etcd = await startEtcd();
  work = await mkdtemp(join(tmpdir(), 'rs-older-artifacts-'));
});
afterAll(async () => {
  await etcd?.stop();
  await rm(work, { recursive: true, force: true });
});

/** A store of its own holding one version's artifacts in cluster "compat". */
async function storeOf(version: string): Promise<Record<string, string>> {
  const dir = await mkdtemp(join(work, `${version}-`));
  await cp(join(FIXTURES, version), join(dir, 'compat'), { recursive: true });
  return { RS_BACKUP_DIR: dir, RS_CLUSTER_NAME: 'compat', RS_ENCRYPTION_IDENTITY_FILE: IDENTITY, RS_ETCD_ENDPOINTS: etcd.endpoint };
}

async function ok(args: string[], env: Record<string, string>): Promise<string> {
  const res = await runInProcess(args, env);
  expect(res.code, `${args.join(' ')}: ${res.stderr}`).toBe(0);
  return res.stdout;
}

async function listed(env: Record<string, string>): Promise<Listed[]> {
  return JSON.parse(await ok(['list', '--json'], env)) as Listed[];
}

/** Empties the etcd the restores write into. */
async function emptyEtcd(): Promise<void> {
  await etcd.ctl(['del', '', '--from-key']);
}

const value = async (key: string) => (await etcd.ctl(['get', key, '--print-value-only'])).replace(/\n$/, '');
const keyCount = async () => (await etcd.ctl(['get', '', '--from-key', '--keys-only'])).split('\n').filter((l) => l.length > 0).length;

describe.each(VERSIONS)('artifacts %s wrote', (version) => {
  let env: Record<string, string>;
  let all: Listed[];
  beforeAll(async () => {
    env = await storeOf(version);
    all = await listed(env);
  });
  const of = (strategy: string) => all.filter((b) => b.strategy === strategy);

  it('list shows every backup the store holds, none left out', async () => {
    const files = (await readdir(join(FIXTURES, version))).filter((f) => f.endsWith('.manifest.json'));
    expect(all.map((b) => b.id).sort()).toEqual(files.map((f) => f.slice(0, 27)).sort());
    const res = await runInProcess(['list'], env);
    expect(res.stdout).not.toContain('not listed');
  });

  it('verify passes every backup, and --chain each chain', async () => {
    for (const b of all) await ok(['verify', b.id], env);
    for (const base of new Set(of('delta').map((d) => d.base!))) expect(await ok(['verify', base, '--chain'], env)).toMatch(/ok\s+chain\s+\d+ segments/);
  });

  it('stats, inspect and diff read every snapshot, key dump and listing', async () => {
    for (const b of all.filter((x) => x.strategy !== 'delta')) {
      expect(await ok(['stats', b.id], env)).toMatch(/keys: +(29|2) /);
      if (b.strategy !== 'render') expect(await ok(['inspect', b.id, '--get', SECRET], env)).toContain(SECRET);
    }
    for (const s of of('snapshot')) expect(await ok(['inspect', s.id], env)).toContain('revision:   31');
    const [snap] = of('snapshot');
    const [raw] = of('raw');
    expect(await ok(['diff', snap!.id, raw!.id], env)).toContain('0 added, 0 removed, 0 changed, 28 unchanged');
  });

  it('restores every key dump and snapshot into an empty etcd, the big value and the Secret whole', async () => {
    for (const b of [...of('raw'), ...of('filter:secrets'), ...of('snapshot')]) {
      await emptyEtcd();
      await ok(['restore', b.id, ...(b.strategy === 'snapshot' ? ['--keys'] : [])], env);
      expect(await keyCount(), b.artifact).toBe(b.strategy === 'filter:secrets' ? 2 : 29);
      expect(await value(SECRET)).toContain('not-a-real-secret');
      if (b.strategy !== 'filter:secrets') expect((await value(BIG)).length).toBeGreaterThan(200 * 1024);
    }
  });

  it('restore --snapshot-file and --data-dir write every snapshot backup out', async () => {
    for (const s of of('snapshot')) {
      const file = join(work, `${s.id}.db`);
      await ok(['restore', s.id, '--snapshot-file', file], env);
      await ok(['verify', file], env);
      await ok(['restore', s.id, '--data-dir', join(work, `${s.id}.etcd`)], env);
    }
  });

  it('restore --to latest replays the recorded chain onto its base', async () => {
    const chains = new Set(of('delta').map((d) => d.base!));
    if (chains.size === 0) return;
    for (const base of chains) {
      await emptyEtcd();
      await ok(['restore', base, '--to', 'latest', '--keys'], env);
      const tag = version.endsWith('89b1126') ? 'b' : 'c';
      expect(await value(SECRET)).toBe(`rotated by ${tag}`);
      expect(await value(`/registry/configmaps/default/chain-${tag}-1`)).toBe(`v2 of ${tag}`);
      expect(await value(`/registry/configmaps/default/chain-${tag}-2`)).toBe(`after ${tag}`);
      expect(await value('/registry/pods/default/web-2')).toBe('');
    }
  });

  it("the API lists every backup; prune keeps each series' newest and what its chains need", async () => {
    const api = await startApi(env);
    try {
      const res = await api.call('/api/v1/backups');
      expect(res.status).toBe(200);
      const body = (await res.json()) as { backups?: Listed[] } | Listed[];
      const ids = (Array.isArray(body) ? body : (body.backups ?? [])).map((b) => b.id);
      expect(ids.sort()).toEqual(all.map((b) => b.id).sort());
    } finally {
      await api.stop();
    }
    const pruneEnv = { ...(await storeOf(version)), RS_RETENTION_KEEP_LAST: '1' };
    await ok(['prune'], pruneEnv);
    const left = await listed(pruneEnv);
    for (const b of left) await ok(['verify', b.id], pruneEnv);
    expect(new Set(left.map((b) => b.strategy))).toEqual(new Set(all.map((b) => b.strategy)));
  });
});

// A chain on a key dump (raw) base is restored through the planner, by the prefixes the dump and its segments record:
// 89b1126 and e8eff6b wrote them before a raw dump recorded every known prefix (c46ed48).
describe.each([
  ['v20261204-89b1126-raw-chain', 'rb', 40],
  ['v20261207-e8eff6b-raw-chain', 'rc', 44],
])('a chain on a raw dump %s wrote', (version, tag, baseRevision) => {
  it('verify --chain passes; restore --to latest and --to a revision between give the state at each', async () => {
    const env = await storeOf(version);
    const [base] = (await listed(env)).filter((b) => b.strategy === 'raw');
    expect(await ok(['verify', base!.id, '--chain'], env)).toMatch(/ok\s+chain\s+3 segments, 4 changes/);
    await emptyEtcd();
    await ok(['restore', base!.id, '--to', 'latest'], env);
    expect(await value(SECRET)).toBe(`rotated by ${tag}`);
    expect(await value(`/registry/configmaps/default/chain-${tag}-1`)).toBe(`v2 of ${tag}`);
    expect(await value(`/registry/configmaps/default/chain-${tag}-2`)).toBe(`after ${tag}`);
    expect((await value(BIG)).length).toBeGreaterThan(200 * 1024);
    await emptyEtcd();
    await ok(['restore', base!.id, '--to', String(baseRevision + 2)], env);
    expect(await value(`/registry/configmaps/default/chain-${tag}-1`)).toBe(`v1 of ${tag}`);
    expect(await value(`/registry/configmaps/default/chain-${tag}-2`)).toBe('');
  });
});

// A container checkpoint (RS_BACKUP_STRATEGY=checkpoint, the archive of test/helpers/fake-kubelet.ts's kubelet).
describe.each(['v20261204-89b1126-checkpoint', 'v20261207-e8eff6b-checkpoint'])('a container checkpoint %s wrote', (version) => {
  it('verifies and is written out as an OCI image archive', async () => {
    const env = await storeOf(version);
    const [m] = await listed(env);
    expect(m).toMatchObject({ strategy: 'checkpoint', checkpoint: { namespace: 'shop', pod: 'web', container: 'app' } });
    expect(await ok(['verify', m!.id], env)).toMatch(/ok\s+content\s+container-checkpoint ok/);
    const file = join(work, `${m!.id}.oci.tar`);
    await ok(['restore', m!.id, '--image-archive', file], env);
    expect((await readFile(file)).length).toBeGreaterThan(m!.sizeBytes);
    // An image a registry takes: skopeo copies it, and the layer blob it writes is the node's archive, byte for byte
    // (the stored artifact decompressed, whose sha256 the manifest recorded).
    const node = zstdDecompressSync(await readFile(join(env.RS_BACKUP_DIR!, 'compat', m!.artifact)));
    const digest = createHash('sha256').update(node).digest('hex');
    expect(digest).toBe(JSON.parse(await readFile(join(FIXTURES, version, `${m!.id}.manifest.json`), 'utf8')).checkpoint.archiveSha256);
    const copied = join(work, `${m!.id}.copied`);
    await promisify(execFile)('skopeo', ['--insecure-policy', 'copy', `oci-archive:${file}`, `dir:${copied}`]);
    expect((await readFile(join(copied, digest))).equals(node)).toBe(true);
  });
});

// Encrypted with RS_ENCRYPTION_PASSPHRASE (age's scrypt recipient): one filter:secrets dump of each build, a cluster each.
describe.each([
  ['compat-a', '8702e40'],
  ['compat-b', '89b1126'],
  ['compat-c', 'e8eff6b'],
])('a dump encrypted with a passphrase, cluster %s (%s)', (cluster) => {
  it('verifies and restores with the passphrase', async () => {
    const dir = await mkdtemp(join(work, `${cluster}-`));
    await cp(join(FIXTURES, 'passphrase', cluster), join(dir, cluster), { recursive: true });
    const env = { RS_BACKUP_DIR: dir, RS_CLUSTER_NAME: cluster, RS_ENCRYPTION_PASSPHRASE: 'synthetic-test-passphrase', RS_ETCD_ENDPOINTS: etcd.endpoint };
    await ok(['verify', 'latest'], env);
    await emptyEtcd();
    await ok(['restore', 'latest'], env);
    expect(await keyCount()).toBe(2);
    expect(await value(SECRET)).toContain('rotated by');
  });
});

describe('artifacts of every earlier version, from S3', () => {
  let s3: TestS3;
  beforeAll(async () => {
    s3 = await startS3('compat');
  });
  afterAll(async () => {
    await s3?.stop();
  });

  it('list, verify and restore read them as from a folder', async () => {
    const client = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
    for (const version of VERSIONS) {
      for (const f of await readdir(join(FIXTURES, version))) {
        await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `${version}/compat/${f}`, Body: await readFile(join(FIXTURES, version, f)) }));
      }
      const env = { ...s3.env, RS_S3_PREFIX: version, RS_CLUSTER_NAME: 'compat', RS_ENCRYPTION_IDENTITY_FILE: IDENTITY, RS_ETCD_ENDPOINTS: etcd.endpoint };
      const all = await listed(env);
      for (const b of all) await ok(['verify', b.id], env);
      const raw = all.find((b) => b.strategy === 'raw' && b.artifact.endsWith('.age'))!;
      await emptyEtcd();
      await ok(['restore', raw.id], env);
      expect((await value(BIG)).length).toBeGreaterThan(200 * 1024);
    }
  });

  // Before 5850b01 RS_S3_PREFIX=s3://<bucket>/prod was taken as the folder "s3:/<bucket>/prod": months of backups are
  // there. Refused now, the refusal said only to give "prod", where none of them are ("no backups").
  it('RS_S3_PREFIX as an S3 URL: the refusal names the folder earlier versions stored its backups in, and that folder reads', async () => {
    const client = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
    const version = VERSIONS[0]!;
    const files = await readdir(join(FIXTURES, version));
    for (const f of files) {
      await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `s3:/${s3.bucket}/prod/compat/${f}`, Body: await readFile(join(FIXTURES, version, f)) }));
    }
    const env = { ...s3.env, RS_CLUSTER_NAME: 'compat', RS_ENCRYPTION_IDENTITY_FILE: IDENTITY, RS_ETCD_ENDPOINTS: etcd.endpoint };
    const refused = await runInProcess(['list'], { ...env, RS_S3_PREFIX: `s3://${s3.bucket}/prod` });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`Earlier versions of reshifter took it as the folder "s3:/${s3.bucket}/prod" and stored backups there: RS_S3_PREFIX="s3:/${s3.bucket}/prod" reads them`);
    const earlier = { ...env, RS_S3_PREFIX: `s3:/${s3.bucket}/prod` };
    const all = await listed(earlier);
    expect(all).toHaveLength(files.filter((f) => f.endsWith('.manifest.json')).length);
    for (const b of all) await ok(['verify', b.id], earlier);
  });
});
