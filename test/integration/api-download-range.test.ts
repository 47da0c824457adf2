import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import { loadDataset } from '../../src/demo/load-dataset.js';
import { sampleDataset } from '../../src/demo/sample-data.js';
import { startApi, type TestApi } from '../helpers/api.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { runInProcess } from '../helpers/in-process.js';
import { startS3, type TestS3 } from '../helpers/s3.js';
import { startS3Proxy, type S3Proxy } from '../helpers/s3-proxy.js';

/**
 * A download of a backup's bytes broken off half-way (a proxy's timeout, a laptop that slept) is resumed as `curl -C -`
 * and browsers do it: `Range: bytes=N-`. The server used to ignore Range and send the whole artifact again with 200,
 * so curl refused to resume (exit 33) and a 1 GB download started over. Both stores, against real servers.
 */
const TOKEN = 'range-test-token-3b7e1d0c';
const auth = { token: TOKEN };
let etcd: TestEtcd;
let s3: TestS3;
let proxy: S3Proxy;
let dir: string;
const stores: Record<string, { api: TestApi; m: Manifest; bytes: Buffer }> = {};

beforeAll(async () => {
  [etcd, s3] = await Promise.all([startEtcd(), startS3()]);
  dir = await mkdtemp(join(tmpdir(), 'rs-range-'));
  proxy = await startS3Proxy(s3.endpoint);
  const client = new Etcd3({ hosts: etcd.endpoint });
  await loadDataset(client, sampleDataset({ namespaces: 2, podsPerNamespace: 3, podSpecBytes: 400 }));
  client.close();
  const envs = { s3: { ...s3.env, RS_S3_ENDPOINT: proxy.endpoint }, local: { RS_BACKUP_DIR: dir } };
  for (const [name, storeEnv] of Object.entries(envs)) {
    const env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_CLUSTER_NAME: 'range', RS_COMPRESSION: 'none', ...storeEnv };
    const backup = await runInProcess(['backup'], env);
    expect(backup.code, backup.stderr).toBe(0);
    const api = await startApi({ ...env, RS_API_TOKEN: TOKEN });
    const [m] = (await (await api.call('/api/v1/backups', auth)).json()) as Manifest[];
    const bytes = Buffer.from(await (await api.call(`/api/v1/backups/${m!.id}/artifact`, auth)).arrayBuffer());
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(m!.sha256);
    stores[name] = { api, m: m!, bytes };
  }
});

afterAll(async () => {
  await Promise.all(Object.values(stores).map((s) => s.api.stop()));
  await proxy?.close();
  await Promise.all([etcd?.stop(), s3?.stop()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe.each(['s3', 'local'])('a download from the %s store', (name) => {
  const get = (range: string, headers: Record<string, string> = {}) => {
    const { api, m } = stores[name]!;
    return api.call(`/api/v1/backups/${m.id}/artifact`, { ...auth, headers: { Range: range, ...headers } });
  };

  it('says it takes ranges, and names its bytes by their sha256 (ETag); a HEAD reads nothing of the artifact', async () => {
    const { api, m } = stores[name]!;
    const artifactGets = () => proxy.ops('GetObject').filter((r) => r.url.includes(m.artifact)).length;
    const gets = artifactGets();
    const res = await api.call(`/api/v1/backups/${m.id}/artifact`, { ...auth, method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(Number(res.headers.get('content-length'))).toBe(m.sizeBytes);
    // Before: each HEAD started a GetObject of the whole artifact, then dropped it.
    expect(artifactGets() - gets).toBe(0);
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    expect(res.headers.get('etag')).toBe(`"${m.sha256}"`);
  });

  it('resumes from a byte (curl -C -): 206 with the rest, which completes the first part to the whole', async () => {
    const { m, bytes } = stores[name]!;
    const from = Math.floor(m.sizeBytes / 3);
    const res = await get(`bytes=${from}-`);
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes ${from}-${m.sizeBytes - 1}/${m.sizeBytes}`);
    expect(Number(res.headers.get('content-length'))).toBe(m.sizeBytes - from);
    expect(res.headers.get('x-content-sha256')).toBe(m.sha256);
    const rest = Buffer.from(await res.arrayBuffer());
    const whole = Buffer.concat([bytes.subarray(0, from), rest]);
    expect(createHash('sha256').update(whole).digest('hex')).toBe(m.sha256);
  });

  it('sends a middle range, and the last N bytes', async () => {
    const { m, bytes } = stores[name]!;
    const mid = await get('bytes=100-1123');
    expect(mid.status).toBe(206);
    expect(mid.headers.get('content-range')).toBe(`bytes 100-1123/${m.sizeBytes}`);
    expect(Buffer.from(await mid.arrayBuffer()).equals(bytes.subarray(100, 1124))).toBe(true);
    const tail = await get('bytes=-32');
    expect(tail.status).toBe(206);
    expect(Buffer.from(await tail.arrayBuffer()).equals(bytes.subarray(m.sizeBytes - 32))).toBe(true);
    // An end past the last byte is cut to it (RFC 9110).
    const over = await get(`bytes=${m.sizeBytes - 10}-${m.sizeBytes + 1000}`);
    expect(over.status).toBe(206);
    expect(Buffer.from(await over.arrayBuffer()).equals(bytes.subarray(m.sizeBytes - 10))).toBe(true);
  });

  it('refuses a range past the end with 416, naming the size; a resume with If-Range of other bytes gets the whole', async () => {
    const { m, bytes } = stores[name]!;
    const res = await get(`bytes=${m.sizeBytes}-`);
    expect(res.status).toBe(416);
    expect(res.headers.get('content-range')).toBe(`bytes */${m.sizeBytes}`);
    const body = (await res.json()) as { error: string; code: string };
    expect(body.code).toBe('range_not_satisfiable');
    expect(body.error).toContain(`${m.sizeBytes} bytes`);
    const other = await get('bytes=10-', { 'If-Range': '"another-backup"' });
    expect(other.status).toBe(200);
    expect(Buffer.from(await other.arrayBuffer()).equals(bytes)).toBe(true);
    const same = await get('bytes=10-', { 'If-Range': `"${m.sha256}"` });
    expect(same.status).toBe(206);
    await same.arrayBuffer();
  });
});
