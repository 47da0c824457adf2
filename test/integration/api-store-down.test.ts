import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobView } from '../../src/core/jobs.js';
import { startApi, type TestApi } from '../helpers/api.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { runInProcess } from '../helpers/in-process.js';
import { startS3, type TestS3 } from '../helpers/s3.js';
import { startS3Proxy, type S3Proxy } from '../helpers/s3-proxy.js';

/**
 * The API while S3 is down, behind a reverse proxy. A read (the backup list the web UI loads) retried S3 for the whole
 * RS_S3_RETRY_WINDOW and a last attempt's RS_S3_REQUEST_TIMEOUT: 60.2 s with the defaults against a frozen S3, past
 * ingress-nginx's and AWS load balancers' 60 s, so the operator got the proxy's own 504 naming nothing instead of the
 * JSON error naming S3. A read now waits on the store for a bounded time in all (20 s; here shortened) and answers 502
 * naming the cause; a job it starts (a backup) still rides out the outage for the whole retry window.
 */
const TOKEN = 'store-down-token-4c1e9b27';
const WAIT_MS = 1500;
let etcd: TestEtcd;
let s3: TestS3;
let proxy: S3Proxy;
let api: TestApi;

beforeAll(async () => {
  [etcd, s3] = await Promise.all([startEtcd(), startS3()]);
  await etcd.ctl(['put', '/registry/configmaps/default/a', 'one']);
  const env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_CLUSTER_NAME: 'down', ...s3.env };
  expect((await runInProcess(['backup'], env)).code).toBe(0);
  proxy = await startS3Proxy(s3.endpoint);
  // A retry window far longer than any test: a read that waited it out would time the test out.
  api = await startApi({ ...env, RS_S3_ENDPOINT: proxy.endpoint, RS_S3_RETRY_WINDOW: '10m', RS_API_TOKEN: TOKEN }, { waitMs: WAIT_MS });
});

afterAll(async () => {
  await api?.stop();
  await proxy?.close();
  await Promise.all([etcd?.stop(), s3?.stop()]);
});

describe('the API while S3 is down', () => {
  it("answers a read with 502 naming S3 and the API's wait, not after the store's whole retry window", async () => {
    proxy.fault = () => 'drop';
    try {
      for (const path of ['/api/v1/backups', '/api/v1/backups/latest', '/api/v1/clusters']) {
        const res = await api.call(path, { token: TOKEN });
        expect(res.status, path).toBe(502);
        const body = (await res.json()) as { error: string; code: string };
        expect(body.code).toBe('store_failed');
        expect(body.error).toMatch(/^listing s3:\/\/backups\/.*the S3 server did not answer/);
        expect(body.error).toContain('the API waits at most 1.5s for the store');
        expect(body.error).not.toContain('RS_S3_RETRY_WINDOW');
      }
    } finally {
      proxy.fault = undefined;
    }
    expect((await api.call('/api/v1/backups', { token: TOKEN })).status).toBe(200);
  });

  // Before: once the listing had answered, a stats read of a stored backup whose S3 froze on the artifact's download
  // retried for the whole RS_S3_RETRY_WINDOW (10 minutes here: the test timed out), past a proxy's own timeout.
  it('answers a stats read whose S3 freezes after the listing with 502 naming the API wait, not the retry window', async () => {
    proxy.fault = (r) => (r.op === 'GetObject' && !r.url.includes('manifest.json') ? 'drop' : undefined);
    try {
      const res = await api.call('/api/v1/stats/latest', { token: TOKEN });
      const body = (await res.json()) as { error: string; code: string };
      expect(res.status, body.error).toBe(502);
      expect(body.error).toContain('the S3 server did not answer');
      expect(body.error).toContain('the API waits at most 1.5s for the store');
      expect(proxy.ops('ListObjects').length).toBeGreaterThan(0);
    } finally {
      proxy.fault = undefined;
    }
    expect((await api.call('/api/v1/stats/latest', { token: TOKEN })).status).toBe(200);
  }, 60_000);

  it('lets a backup job started through the API ride out the outage for the whole retry window', async () => {
    proxy.fault = () => 'drop';
    let job: JobView;
    try {
      const res = await api.call('/api/v1/backups', { method: 'POST', token: TOKEN });
      expect(res.status).toBe(202);
      job = (await res.json()) as JobView;
      // Longer than the API's wait: a job held to it would have failed by now.
      await new Promise((r) => setTimeout(r, WAIT_MS * 3));
      expect((await (await api.call(`/api/v1/jobs/${job.id}`, { token: TOKEN })).json()) as JobView).toMatchObject({ state: 'running' });
    } finally {
      proxy.fault = undefined;
    }
    const done = await api.waitJob(job.id, TOKEN);
    expect(done.state, done.error).toBe('succeeded');
  });
});
