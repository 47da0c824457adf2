import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Etcd3 } from 'etcd3';
import { loadDataset } from '../../src/demo/load-dataset.js';
import { sampleDataset } from '../../src/demo/sample-data.js';
import type { Manifest } from '../../src/archive/manifest.js';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { startS3, type TestS3 } from '../helpers/s3.js';

const run = promisify(execFile);

/** Every key and value of an etcd, as etcdctl sees it (base64 key -> base64 value). */
async function dumpAll(etcd: TestEtcd): Promise<Map<string, string>> {
  const out = JSON.parse(await etcd.ctl(['get', '', '--from-key', '-w', 'json'])) as { kvs?: Array<{ key: string; value?: string }> };
  return new Map((out.kvs ?? []).map((kv) => [kv.key, kv.value ?? '']));
}

let etcd: TestEtcd;
let s3: TestS3;
let work: string;

beforeAll(async () => {
  [etcd, s3] = await Promise.all([startEtcd(), startS3()]);
  work = await mkdtemp(join(tmpdir(), 'rs-backup-'));
  const client = new Etcd3({ hosts: etcd.endpoint });
  await loadDataset(client, sampleDataset({ namespaces: 4, podsPerNamespace: 10, edgeCases: true }));
  client.close();
});

afterAll(async () => {
  await Promise.all([etcd?.stop(), s3?.stop(), work && rm(work, { recursive: true, force: true })]);
});

/** Restores a decompressed snapshot with etcdctl, starts an etcd on it, and returns its keys. */
async function keysOfRestoredSnapshot(snapshot: Buffer): Promise<Map<string, string>> {
  const file = join(work, `restore-${Date.now()}.db`);
  await writeFile(file, snapshot);
  const status = JSON.parse((await run('etcdctl', ['snapshot', 'status', '-w', 'json', file], { env: { ...process.env, ETCDCTL_API: '3' } })).stdout) as { revision: number; totalKey: number };
  expect(status.totalKey).toBeGreaterThan(80);
  const dataDir = join(work, `restored-${Date.now()}`);
  // etcdctl 3.4 checks the sha256 trailer here: a snapshot without one, or with a wrong one, fails.
  await run('etcdctl', ['snapshot', 'restore', file, '--data-dir', dataDir], { env: { ...process.env, ETCDCTL_API: '3' } });
  const restored = await startEtcd({ dataDir });
  try {
    return await dumpAll(restored);
  } finally {
    await restored.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

describe.each([
  ['local directory', () => ({ RS_BACKUP_DIR: join(work, 'store') })],
  ['S3 (s3rver)', () => ({ ...s3.env, RS_S3_PREFIX: 'team/etcd' })],
])('snapshot backup to %s', (_name, storeEnv) => {
  const env = () => ({ RS_ETCD_ENDPOINTS: etcd.endpoint, RS_CLUSTER_NAME: 'kind-1', ...storeEnv() });
  let manifest: Manifest;

  it('takes a backup that etcdctl can restore, with every key', async () => {
    const res = await runCli(['backup', '--json'], env());
    expect(res.stderr).toContain('"msg":"backup completed"');
    expect(res.code).toBe(0);
    manifest = JSON.parse(res.stdout) as Manifest;
    expect(manifest).toMatchObject({ cluster: 'kind-1', strategy: 'snapshot', compression: 'zstd', encryption: 'none', contentType: 'etcd-snapshot' });
    expect(manifest.etcd!.revision).toBeGreaterThan(80);
    expect(manifest.etcd!.version).toMatch(/^3\.\d+\.\d+/);

    const bytes = await fetchArtifact(manifest);
    expect(bytes.length).toBe(manifest.sizeBytes);
    const snapshot = execFileSync('zstd', ['-dc'], { input: bytes, maxBuffer: 256 * 1024 * 1024 });
    expect(snapshot.length).toBe(manifest.rawSizeBytes);
    expect(snapshot.length % 512).toBe(32);
    const expected = await dumpAll(etcd);
    const restored = await keysOfRestoredSnapshot(snapshot);
    expect(restored.size).toBe(expected.size);
    expect(restored).toEqual(expected);
  });

  it('lists backups newest first, and verify passes', async () => {
    const second = JSON.parse((await runCli(['backup', '--json'], env())).stdout) as Manifest;
    const res = await runCli(['list', '--json'], env());
    expect(res.code).toBe(0);
    const listed = (JSON.parse(res.stdout) as Manifest[]).map((m) => m.id);
    expect(listed).toEqual([second.id, manifest.id]);
    const table = await runCli(['backup', 'list'], env());
    expect(table.stdout.split('\n')[1]).toContain(second.id);
    const verify = await runCli(['verify', manifest.id], env());
    expect(verify.code).toBe(0);
    expect(verify.stdout).toMatch(/ok\s+sha256/);
    expect(verify.stdout).toMatch(/ok\s+content\s+etcd-snapshot ok/);
  });

  it('applies retention after a backup, keeping the newest', async () => {
    const res = await runCli(['backup', '--json'], { ...env(), RS_RETENTION_KEEP_LAST: '2' });
    expect(res.code).toBe(0);
    const newest = JSON.parse(res.stdout) as Manifest;
    const listed = JSON.parse((await runCli(['list', '--json'], env())).stdout) as Manifest[];
    expect(listed).toHaveLength(2);
    expect(listed[0]!.id).toBe(newest.id);
    expect(listed.map((m) => m.id)).not.toContain(manifest.id);
    const dry = await runCli(['prune', '--dry-run'], { ...env(), RS_RETENTION_KEEP_LAST: '1' });
    expect(dry.stdout).toContain(`would delete\t${listed[1]!.id}`);
    expect(JSON.parse((await runCli(['list', '--json'], env())).stdout)).toHaveLength(2);
    const pruned = await runCli(['prune'], { ...env(), RS_RETENTION_KEEP_LAST: '1' });
    expect(pruned.code).toBe(0);
    expect((JSON.parse((await runCli(['list', '--json'], env())).stdout) as Manifest[]).map((m) => m.id)).toEqual([newest.id]);
  });

  /** Reads the stored artifact straight from where the store keeps it. */
  async function fetchArtifact(m: Manifest): Promise<Buffer> {
    const e = storeEnv() as Record<string, string>;
    if (e.RS_BACKUP_DIR) {
      const path = join(e.RS_BACKUP_DIR, m.cluster, m.artifact);
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      expect((await stat(join(e.RS_BACKUP_DIR, m.cluster))).mode & 0o777).toBe(0o700);
      return readFile(path);
    }
    // s3rver keeps each object as a file named after its key, under the bucket's folder.
    const key = `${e.RS_S3_PREFIX}/${m.cluster}/${m.artifact}`;
    const res = await fetch(`${s3.endpoint}/${s3.bucket}/${key}`);
    expect(res.status).toBe(200);
    return Buffer.from(await res.arrayBuffer());
  }
});

describe('verify', () => {
  it('catches a flipped byte, naming the check', async () => {
    const dir = join(work, 'flip');
    const env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: dir, RS_COMPRESSION: 'none' };
    const m = JSON.parse((await runCli(['backup', '--json'], env)).stdout) as Manifest;
    const path = join(dir, 'default', m.artifact);
    const bytes = await readFile(path);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    await writeFile(path, bytes);
    const res = await runCli(['verify', m.id], env);
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/FAIL\s+sha256/);
    expect(res.stdout).toMatch(/FAIL\s+trailer/);
    expect(res.stderr).toMatch(/failed verification/);
  });

  it.each(['zstd', 'gzip'])('reports a truncated %s artifact', async (compression) => {
    const dir = join(work, `trunc-${compression}`);
    const env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: dir, RS_COMPRESSION: compression };
    const m = JSON.parse((await runCli(['backup', '--json'], env)).stdout) as Manifest;
    const path = join(dir, 'default', m.artifact);
    const bytes = await readFile(path);
    await writeFile(path, bytes.subarray(0, bytes.length - 100));
    const res = await runCli(['verify', '--json'], env);
    expect(res.code).toBe(1);
    const out = JSON.parse(res.stdout) as { ok: boolean; checks: Array<{ name: string; ok: boolean }> };
    expect(out.ok).toBe(false);
    expect(out.checks.find((c) => c.name === 'size')?.ok).toBe(false);
    expect(out.checks.find((c) => c.name === 'decompress')?.ok).toBe(false);
  });
});

describe('failures leave nothing behind', () => {
  it('an unreachable etcd fails with exit 1 and no backup', async () => {
    const dir = join(work, 'unreachable');
    const res = await runCli(['backup'], { RS_ETCD_ENDPOINTS: 'http://127.0.0.1:1', RS_BACKUP_DIR: dir, RS_ETCD_TIMEOUT: '1s' }, { timeoutMs: 30_000 });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/127\.0\.0\.1:1/);
    expect(res.stderr).not.toMatch(/\n\s+at /); // a message, not a stack trace
    const files = await readdir(join(dir, 'default')).catch(() => []);
    expect(files).toEqual([]);
  });
});
