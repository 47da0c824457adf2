import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type TestApi } from '../helpers/api.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { loadBigValues, portOf } from '../helpers/faults.js';
import { startS3, type TestS3 } from '../helpers/s3.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';

/**
 * Explore and stats through the API of an etcd that is frozen or stopped. Each etcd call waited RS_ETCD_TIMEOUT (30 s
 * by default) and its retries, one call after another: explore of a frozen etcd did not answer in 90 s, stats took
 * 60 s, and of a stopped etcd 21 s and 27 s, past the API's 20 s wait and a proxy's 30 s, which then answers a 504
 * naming nothing. They now wait on etcd no longer than the API's wait (here shortened; RS_ETCD_TIMEOUT far longer, so
 * a read that waited it would time the test out) and answer 502 naming etcd, why, and the wait.
 */
const TOKEN = 'etcd-down-token-7d2a90c1';
const WAIT_MS = 1500;
let etcd: TestEtcd;
let s3: TestS3;
let api: TestApi;

beforeAll(async () => {
  [etcd, s3] = await Promise.all([startEtcd(), startS3()]);
  await etcd.ctl(['put', '/registry/configmaps/default/a', 'one']);
  const env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_CLUSTER_NAME: 'etcd-down', RS_ETCD_TIMEOUT: '10m', RS_API_TOKEN: TOKEN, ...s3.env };
  api = await startApi(env, { waitMs: WAIT_MS });
});

afterAll(async () => {
  if (etcd?.process.exitCode === null) etcd.process.kill('SIGCONT');
  await api?.stop();
  await Promise.all([etcd?.stop(), s3?.stop()]);
});

async function expectEtcdFailed(path: string, cause: RegExp): Promise<void> {
  const res = await api.call(path, { token: TOKEN });
  expect(res.status).toBe(502);
  const body = (await res.json()) as { error: string; code: string };
  expect(body.code).toBe('etcd_failed');
  expect(body.error).toContain(etcd.endpoint);
  expect(body.error).toMatch(cause);
  expect(body.error).toContain('the API waits at most 1.5s for the store and etcd, to answer before a proxy in front gives up');
}

describe('explore and stats through the API while etcd is down', () => {
  it('answer while etcd answers', async () => {
    expect((await api.call('/api/v1/explore', { token: TOKEN })).status).toBe(200);
    expect((await api.call('/api/v1/stats', { token: TOKEN })).status).toBe(200);
  });

  it('answer 502 naming etcd and the wait, not after RS_ETCD_TIMEOUT, when etcd is frozen', async () => {
    etcd.process.kill('SIGSTOP');
    try {
      await expectEtcdFailed('/api/v1/explore', /exploring etcd failed .*etcd did not answer within 1\.5 s \(is etcd stopped, frozen or overloaded\?\)/);
      await expectEtcdFailed('/api/v1/stats', /reading etcd failed .*etcd did not answer within 1\.5 s/);
    } finally {
      etcd.process.kill('SIGCONT');
    }
    // Thawed, it answers again: the wait was the request's, not the server's.
    expect((await api.call('/api/v1/stats', { token: TOKEN })).status).toBe(200);
  }, 30_000);

  it('answer 502 naming etcd unreachable and the wait when etcd is stopped', async () => {
    await etcd.kill();
    await expectEtcdFailed('/api/v1/explore', /exploring etcd failed .*etcd is unreachable or went away: connect ECONNREFUSED/);
    // Or, when its channel joined the connection explore's failed (grpc-js shares it, waiting to connect again): no
    // reason of its own, said as such (it read "went away: null").
    await expectEtcdFailed('/api/v1/stats', /reading etcd failed .*etcd is unreachable or went away: (connect ECONNREFUSED|no connection could be made \(the last attempt to connect failed)/);
  }, 30_000);
});

/**
 * A stats read of an etcd that freezes in the middle (its first pages came, then nothing): the wait for the first
 * answer was the API's, and from then on each call waited RS_ETCD_TIMEOUT (30 s by default, past a proxy's 30 s and
 * the 20 s the API says it waits; here 10 min, which times the test out). Each wait after the first answer is now
 * bounded by the API's wait as well, and the stats answer 502 naming etcd and that wait; a read that goes on
 * answering still reads for as long as it takes.
 */
describe('stats through the API when etcd freezes mid-read', () => {
  it('answer 502 naming etcd and the wait, not after RS_ETCD_TIMEOUT', async () => {
    const big = await startEtcd();
    const proxy = await startTcpProxy(portOf(big.endpoint), { rate: 8 * 1024 * 1024 });
    let frozenApi: TestApi | undefined;
    try {
      await loadBigValues(big.endpoint, 48); // 24 MiB of values: about 3 s through the proxy
      const env = { RS_ETCD_ENDPOINTS: `http://${proxy.address}`, RS_CLUSTER_NAME: 'etcd-frozen-mid', RS_ETCD_TIMEOUT: '10m', RS_API_TOKEN: TOKEN, ...s3.env };
      frozenApi = await startApi(env, { waitMs: WAIT_MS });
      const base = proxy.bytesDown;
      const stats = frozenApi.call('/api/v1/stats', { token: TOKEN });
      // Frozen once a few MiB of values have come: well past the first answer, well before the last page.
      while (proxy.bytesDown - base < 3 * 1024 * 1024) await new Promise((r) => setTimeout(r, 20));
      proxy.holdReplies = true;
      const res = await stats;
      expect(res.status).toBe(502);
      const body = (await res.json()) as { error: string; code: string };
      expect(body.code).toBe('etcd_failed');
      expect(body.error).toMatch(/etcd did not answer within 1\.5 s/);
      expect(body.error).toContain('the API waits at most 1.5s for the store and etcd, to answer before a proxy in front gives up');
    } finally {
      proxy.holdReplies = false;
      await frozenApi?.stop();
      await proxy.close();
      await big.stop();
    }
  }, 60_000);
});
