import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killStarted, startRun } from '../helpers/background-run.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { runInProcess } from '../helpers/in-process.js';
import { freePort } from '../helpers/ports.js';
import { startS3, type TestS3 } from '../helpers/s3.js';
import { startS3Proxy, type S3Proxy } from '../helpers/s3-proxy.js';

/**
 * `run` lists the store at start (the last-success metric, the refused-credentials check). With thousands of backups
 * on a slow store that listing takes long (18 s for 3000 on s3rver), and a SIGTERM meanwhile waited for it: the pod
 * did not stop, and a backup started through the API in those seconds ran on until the listing ended. Here the
 * store's answer to the listing is held and never comes: run must stop on SIGTERM all the same.
 */
let etcd: TestEtcd;
let s3: TestS3;
let proxy: S3Proxy;

beforeAll(async () => {
  [etcd, s3] = await Promise.all([startEtcd(), startS3()]);
  await etcd.ctl(['put', '/registry/configmaps/default/a', 'one']);
  expect((await runInProcess(['backup'], { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_CLUSTER_NAME: 'slow', ...s3.env })).code).toBe(0);
  proxy = await startS3Proxy(s3.endpoint);
});

afterAll(async () => {
  killStarted();
  await proxy?.close();
  await Promise.all([etcd?.stop(), s3?.stop()]);
});

describe('run stopped while it lists the store at start', () => {
  it('stops on SIGTERM without waiting for the listing', async () => {
    // The listing's body never arrives; the request timeout is far longer than the test.
    proxy.onResponseBytes = (r) => (r.op === 'ListObjects' ? 'hold' : undefined);
    const run = startRun(
      {
        RS_ETCD_ENDPOINTS: etcd.endpoint,
        RS_CLUSTER_NAME: 'slow',
        ...s3.env,
        RS_S3_ENDPOINT: proxy.endpoint,
        RS_S3_REQUEST_TIMEOUT: '10m',
        RS_SCHEDULE: '0 0 1 1 *',
        RS_HTTP_PORT: String(await freePort()),
      },
      { timeoutMs: 60_000 },
    );
    await run.until(/"msg":"http server listening"/);
    for (let i = 0; proxy.ops('ListObjects').length === 0; i++) {
      if (i > 400) throw new Error(`run did not list the store:\n${run.log()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    run.child().kill('SIGTERM');
    const res = await run.done;
    proxy.onResponseBytes = undefined;
    expect(res.signal, run.log()).toBeNull();
    expect(res.code, run.log()).toBe(0);
    expect(run.log()).toContain('"msg":"stopped"');
  });
});
