import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import { startApi } from '../helpers/api.js';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { startS3, type TestS3 } from '../helpers/s3.js';
import { startS3Proxy, type S3Proxy } from '../helpers/s3-proxy.js';

/**
 * `count` copies of backup `id`'s manifest in the cluster's folder under earlier ids, an hour apart, as the store's own
 * files (and an artifact of a byte each, with `artifacts`), put 16 at a time.
 */
async function storeCopies(s3: TestS3, cluster: string, id: string, count: number, opts: { artifacts: boolean }): Promise<void> {
  const client = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
  const base = JSON.parse(await (await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: `${cluster}/${id}.manifest.json` }))).Body!.transformToString()) as Manifest;
  const puts: Array<{ Key: string; Body: string }> = [];
  for (let i = 1; i <= count; i++) {
    const at = new Date(Date.parse(base.createdAt) - i * 3_600_000);
    const copyId = `${at.toISOString().replace(/[-:]/g, '')}-${i.toString(16).padStart(6, '0')}`;
    const artifact = base.artifact.replace(base.id, copyId);
    puts.push({ Key: `${cluster}/${copyId}.manifest.json`, Body: JSON.stringify({ ...base, id: copyId, createdAt: at.toISOString(), artifact }) });
    if (opts.artifacts) puts.push({ Key: `${cluster}/${artifact}`, Body: 'x' });
  }
  const workers = Array.from({ length: 16 }, async () => {
    for (let put = puts.pop(); put !== undefined; put = puts.pop()) await client.send(new PutObjectCommand({ Bucket: s3.bucket, ...put }));
  });
  await Promise.all(workers);
  client.destroy();
}

/**
 * A store as a month of hourly backups leaves it: hundreds of manifests. `list` (and every `latest`) reads each one;
 * one after another that is a round trip to S3 per backup (minutes on a real bucket for thousands of them). They are
 * read several at a time, the listing unchanged.
 */
describe('a store with many backups', () => {
  let etcd: TestEtcd;
  let s3: TestS3;
  let proxy: S3Proxy;
  let dir: string;
  const BACKUPS = 120;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rs-list-many-'));
    [etcd, s3] = await Promise.all([startEtcd(), startS3()]);
    proxy = await startS3Proxy(s3.endpoint);
    await etcd.ctl(['put', '/registry/configmaps/default/a', 'one']);
    const first = await runCli(['backup', '--json'], { RS_ETCD_ENDPOINTS: etcd.endpoint, ...s3.env, RS_CLUSTER_NAME: 'many' });
    expect(first.code, first.stderr).toBe(0);
    await storeCopies(s3, 'many', (JSON.parse(first.stdout) as Manifest).id, BACKUPS - 1, { artifacts: false });
  });
  afterAll(async () => {
    await proxy?.close();
    await Promise.all([etcd?.stop(), s3?.stop()]);
    await rm(dir, { recursive: true, force: true });
  });

  it('list reads the manifests several at a time, and lists every one newest first', async () => {
    const res = await runCli(['list', '--json'], { ...s3.env, RS_S3_ENDPOINT: proxy.endpoint, RS_CLUSTER_NAME: 'many' });
    expect(res.code, res.stderr).toBe(0);
    const ids = (JSON.parse(res.stdout) as Manifest[]).map((b) => b.id);
    expect(ids).toHaveLength(BACKUPS);
    expect([...ids].sort().reverse()).toEqual(ids);
    expect(proxy.ops('GetObject')).toHaveLength(BACKUPS);
    // Before: 1, each manifest asked for once the one before had arrived.
    expect(proxy.peakInFlight('GetObject')).toBeGreaterThan(4);
  });

  it("run's API reads each manifest once: later listings (the web UI's every refresh) ask S3 only for the listing", async () => {
    // Before: every GET /api/v1/backups read every manifest again (thousands of S3 requests, seconds, per refresh).
    const api = await startApi({ ...s3.env, RS_S3_ENDPOINT: proxy.endpoint, RS_CLUSTER_NAME: 'many' });
    const list = async () => {
      const before = proxy.ops('GetObject').length;
      const res = await api.call('/api/v1/backups');
      expect(res.status).toBe(200);
      return { backups: (await res.json()) as Manifest[], reads: proxy.ops('GetObject').length - before };
    };
    try {
      const first = await list();
      expect(first.reads).toBe(BACKUPS);
      const again = await list();
      expect(again.reads).toBe(0);
      expect(again.backups).toEqual(first.backups);
      // A manifest rewritten in the store (by hand) is read again; one deleted is no longer listed.
      const client = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
      const [changed, gone] = [first.backups[3]!, first.backups[5]!];
      await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `many/${changed.id}.manifest.json`, Body: JSON.stringify({ ...changed, durationMs: 987654321 }) }));
      await client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: `many/${gone.id}.manifest.json` }));
      client.destroy();
      const after = await list();
      expect(after.reads).toBe(1);
      expect(after.backups).toHaveLength(BACKUPS - 1);
      expect(after.backups.find((b) => b.id === changed.id)?.durationMs).toBe(987654321);
      expect(after.backups.some((b) => b.id === gone.id)).toBe(false);
    } finally {
      await api.stop();
    }
  });

  it('GET /api/v1/backups pages with limit and before, the next page named by its Link header', async () => {
    // Before: every request carried every manifest (1.8 MB for 3000 backups), and ?limit was a 400.
    const api = await startApi({ ...s3.env, RS_S3_ENDPOINT: proxy.endpoint, RS_CLUSTER_NAME: 'many' });
    try {
      const all = (await (await api.call('/api/v1/backups')).json()) as Manifest[];
      const seen: string[] = [];
      let next: string | undefined = '/api/v1/backups?limit=50';
      let pages = 0;
      while (next !== undefined) {
        const res = await api.call(next);
        expect(res.status).toBe(200);
        expect(res.headers.get('x-total-count')).toBe(String(all.length));
        const page = (await res.json()) as Manifest[];
        expect(page.length).toBeLessThanOrEqual(50);
        seen.push(...page.map((m) => m.id));
        pages++;
        const link = /^<(\?[^>]+)>; rel="next"$/.exec(res.headers.get('link') ?? '');
        next = link ? `/api/v1/backups${link[1]}` : undefined;
      }
      expect(pages).toBe(Math.ceil(all.length / 50));
      expect(seen).toEqual(all.map((m) => m.id));
      // A page after a backup deleted since (not listed any more) still starts after it, by its time.
      const gone = '20000101T000000.000Z-abcdef';
      expect(((await (await api.call(`/api/v1/backups?before=${gone}`)).json()) as Manifest[])).toEqual([]);
      for (const [query, field] of [['limit=0', 'limit'], ['limit=ten', 'limit'], ['before=latest', 'before']] as const) {
        const res = await api.call(`/api/v1/backups?${query}`);
        expect(res.status, query).toBe(400);
        expect(((await res.json()) as { field: string }).field).toBe(field);
      }
    } finally {
      await api.stop();
    }
  });
});

/**
 * A cluster's folder longer than a page of S3's listing (1000 keys): 600 backups are 1200 objects, their manifests and
 * artifacts. Every listing before this test stayed on one page, and s3rver answered any second page with 500 (it
 * makes continuation tokens with DES, which it gets only with Node's --openssl-legacy-provider, now in startS3), so
 * following the pages had never met a real server's.
 */
describe('a store folder longer than a page of the S3 listing', () => {
  let etcd: TestEtcd;
  let s3: TestS3;
  const BACKUPS = 600;

  beforeAll(async () => {
    [etcd, s3] = await Promise.all([startEtcd(), startS3()]);
    await etcd.ctl(['put', '/registry/configmaps/default/a', 'one']);
    const first = await runCli(['backup', '--json'], { RS_ETCD_ENDPOINTS: etcd.endpoint, ...s3.env, RS_CLUSTER_NAME: 'pages' });
    expect(first.code, first.stderr).toBe(0);
    await storeCopies(s3, 'pages', (JSON.parse(first.stdout) as Manifest).id, BACKUPS - 1, { artifacts: true });
  }, 120_000);
  afterAll(async () => {
    await Promise.all([etcd?.stop(), s3?.stop()]);
  });

  it('list follows the pages and lists every backup once', async () => {
    const res = await runCli(['list', '--json'], { ...s3.env, RS_CLUSTER_NAME: 'pages' });
    expect(res.code, res.stderr).toBe(0);
    const ids = (JSON.parse(res.stdout) as Manifest[]).map((b) => b.id);
    expect(ids).toHaveLength(BACKUPS);
    expect(new Set(ids).size).toBe(BACKUPS);
  });
});
