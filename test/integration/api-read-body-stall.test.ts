import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import { startApi, type TestApi } from '../helpers/api.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { loadBigValues } from '../helpers/faults.js';
import { runInProcess } from '../helpers/in-process.js';
import { startS3, type TestS3 } from '../helpers/s3.js';
import { startS3Proxy, type S3Proxy } from '../helpers/s3-proxy.js';

/**
 * The API's diff and stats of stored backups whose S3 answers the artifact's GetObject, sends part of the body, then
 * sends nothing more (frozen after the headers): each resume of the download was given the whole RS_S3_RETRY_WINDOW
 * (10 minutes here: the test timed out), bounded only by the request's own signal, past a proxy's own timeout. The
 * body now waits no longer than the API's per-call budget, and the 502 names the artifact and that wait.
 */
const TOKEN = 'body-stall-token-7a3d91c2';
const WAIT_MS = 1500;
let etcd: TestEtcd;
let s3: TestS3;
let proxy: S3Proxy;
let api: TestApi;
let backups: Manifest[];
let apiEnv: Record<string, string>;

const isArtifact = (url: string) => !url.includes('manifest.json') && !url.includes('list-type');

beforeAll(async () => {
  [etcd, s3] = await Promise.all([startEtcd(), startS3()]);
  await loadBigValues(etcd.endpoint, 4); // 2 MiB of random values: a body of many chunks
  const env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_CLUSTER_NAME: 'stall', RS_COMPRESSION: 'none', ...s3.env };
  backups = [];
  for (let i = 0; i < 2; i++) {
    await etcd.ctl(['put', `/registry/configmaps/default/c${i}`, `v${i}`]);
    const res = await runInProcess(['backup', '--json'], env);
    expect(res.code, res.stderr).toBe(0);
    backups.push(JSON.parse(res.stdout) as Manifest);
  }
  proxy = await startS3Proxy(s3.endpoint);
  apiEnv = { ...env, RS_S3_ENDPOINT: proxy.endpoint, RS_S3_RETRY_WINDOW: '10m', RS_API_TOKEN: TOKEN };
  api = await startApi(apiEnv, { waitMs: WAIT_MS });
}, 120_000);

afterAll(async () => {
  await api?.stop();
  await proxy?.close();
  await Promise.all([etcd?.stop(), s3?.stop()]);
});

describe('an API read whose S3 freezes in the middle of an artifact', () => {
  it.each([
    ['stats', () => `/api/v1/stats/${backups[1]!.id}`],
    ['diff', () => `/api/v1/diff?from=${backups[0]!.id}&to=${backups[1]!.id}`],
  ])('%s answers 502 naming the artifact and the API wait, not after the retry window', async (_what, path) => {
    // The first download of an artifact stops after 256 KiB; every resume (a Range request) is never answered.
    proxy.onResponseBytes = (r, relayed) => (r.op === 'GetObject' && isArtifact(r.url) && relayed > 256 * 1024 ? 'hold' : undefined);
    proxy.fault = (r) => (r.op === 'GetObject' && r.headers.range !== undefined ? 'drop' : undefined);
    try {
      const res = await api.call(path(), { token: TOKEN });
      const body = (await res.json()) as { error: string };
      expect(res.status, body.error).toBe(502);
      expect(body.error).toMatch(new RegExp(`^reading s3://backups/\\S*(${backups[0]!.id}|${backups[1]!.id})\\.snapshot\\.db: the download broke off`));
      expect(body.error).toMatch(/the download broke off after \d+ bytes \(.*\) and did not resume within the API waits at most 1\.5s for the store/);
      expect(body.error).not.toContain('RS_S3_RETRY_WINDOW');
    } finally {
      proxy.onResponseBytes = undefined;
      proxy.fault = undefined;
    }
    expect((await api.call(path(), { token: TOKEN })).status).toBe(200);
  }, 60_000);
});

it('the artifact download (GET /api/v1/backups/<id>/artifact) resumes past the API wait: it has the whole retry window', async () => {
  // The download is streamed after its request's budget (1.5 s here) was spent on the answer's head: a body that
  // froze, and whose resumes fail for twice that long, must still arrive whole within RS_S3_RETRY_WINDOW, not be cut
  // at the API's wait (a browser's or curl's download of a backup broken off by one slow S3 moment).
  const m = backups[1]!;
  const own = await startApi({ ...apiEnv, RS_S3_REQUEST_TIMEOUT: '2s' }, { waitMs: WAIT_MS });
  let firstResume: number | undefined;
  proxy.onResponseBytes = (r, relayed) => (r.op === 'GetObject' && isArtifact(r.url) && r.headers.range === undefined && relayed > 256 * 1024 ? 'hold' : undefined);
  proxy.fault = (r) => {
    if (r.op !== 'GetObject' || r.headers.range === undefined) return undefined;
    firstResume ??= Date.now();
    return Date.now() - firstResume < 2 * WAIT_MS ? 'drop' : undefined;
  };
  try {
    const res = await own.call(`/api/v1/backups/${m.id}/artifact`, { token: TOKEN });
    expect(res.status).toBe(200);
    const bytes = Buffer.from(await res.arrayBuffer());
    expect(bytes.length).toBe(m.sizeBytes);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(m.sha256);
    // It did break off and resume, past resumes that failed.
    expect(firstResume).toBeDefined();
    expect(proxy.ops('GetObject').filter((r) => r.headers.range !== undefined && r.status === 0).length).toBeGreaterThan(0);
  } finally {
    proxy.onResponseBytes = undefined;
    proxy.fault = undefined;
    await own.stop();
  }
}, 60_000);
