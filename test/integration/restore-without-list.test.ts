import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startApi } from '../helpers/api.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { runInProcess } from '../helpers/in-process.js';
import { startS3, type TestS3 } from '../helpers/s3.js';
import { startS3Proxy, type S3Proxy } from '../helpers/s3-proxy.js';

/**
 * A restore-only S3 credential: s3:GetObject on the backups, no s3:ListBucket (a bucket policy that denies listing
 * answers ListObjectsV2 with 403). A restore by id needs no listing, and worked so; the check that the backup's artifact
 * is whole (BackupRepository.getWhole) listed the cluster's folder, so every restore by id failed with "access denied".
 * It now asks for the artifact itself (HeadObject: s3:GetObject).
 */
let source: TestEtcd;
let target: TestEtcd;
let s3: TestS3;
let proxy: S3Proxy;
let id: string;
let snapshotId: string;

beforeAll(async () => {
  [source, target, s3] = await Promise.all([startEtcd(), startEtcd(), startS3('restore-only')]);
  proxy = await startS3Proxy(s3.endpoint);
  await source.ctl(['put', '/registry/namespaces/shop', '{"kind":"Namespace"}']);
  const res = await runInProcess(['backup', '--json', '--strategy', 'raw'], { ...s3.env, RS_ETCD_ENDPOINTS: source.endpoint });
  expect(res.code, res.stderr).toBe(0);
  id = (JSON.parse(res.stdout) as { id: string }).id;
  const snap = await runInProcess(['backup', '--json', '--strategy', 'snapshot'], { ...s3.env, RS_ETCD_ENDPOINTS: source.endpoint });
  expect(snap.code, snap.stderr).toBe(0);
  snapshotId = (JSON.parse(snap.stdout) as { id: string }).id;
  proxy.fault = (r) => (r.op === 'ListObjects' ? { status: 403, code: 'AccessDenied' } : undefined);
}, 60_000);
afterAll(async () => {
  await proxy?.close();
  await Promise.all([source?.stop(), target?.stop(), s3?.stop()]);
});

const env = () => ({ ...s3.env, RS_S3_ENDPOINT: proxy.endpoint, RS_S3_RETRY_WINDOW: '1s', RS_ETCD_ENDPOINTS: target.endpoint });

it('restore <id> works without s3:ListBucket', async () => {
  const res = await runInProcess(['restore', id], env());
  expect(res.code, res.stderr).toBe(0);
  expect(await target.ctl(['get', '/registry/namespaces/shop', '--print-value-only'])).toBe('{"kind":"Namespace"}\n');
});

it("restore <snapshot id> --keys and --data-dir work without s3:ListBucket", async () => {
  const keys = await runInProcess(['restore', snapshotId, '--keys', '--dry-run'], env());
  expect(keys.code, keys.stderr).toBe(0);
  const dir = await mkdtemp(join(tmpdir(), 'rs-restore-only-'));
  try {
    const res = await runInProcess(['restore', snapshotId, '--data-dir', join(dir, 'member')], env());
    expect(res.code, res.stderr).toBe(0);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

it('the API restores by id without s3:ListBucket', async () => {
  const token = 'restore-only-token-1234';
  const api = await startApi({ ...env(), RS_API_TOKEN: token });
  try {
    const res = await api.call('/api/v1/restores', { method: 'POST', token, json: { backupId: id, dryRun: true } });
    expect(res.status, await res.clone().text()).toBe(202);
    const job = await api.waitJob(((await res.json()) as { id: string }).id, token);
    expect(job.state, JSON.stringify(job)).toBe('succeeded');
  } finally {
    await api.stop();
  }
});

it('a backup whose artifact is missing is still refused up front without s3:ListBucket', async () => {
  const m = JSON.parse((await runInProcess(['list', '--json'], { ...s3.env })).stdout) as Array<{ id: string; artifact: string }>;
  const artifact = m.find((x) => x.id === id)!.artifact;
  const gone = proxy.fault;
  // The artifact as a store that lost it answers: 404 to HEAD and GET alike.
  proxy.fault = (r) => (r.url.includes(artifact) ? { status: 404, code: 'NoSuchKey' } : gone?.(r));
  try {
    const res = await runInProcess(['restore', id], env());
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`backup ${id}: its artifact ${artifact} is missing from the store, so it restores nothing; which backup is whole cannot be told: `);
  } finally {
    proxy.fault = gone;
  }
});

it('an artifact answered with 403, as AWS S3 answers a missing object to credentials without s3:ListBucket, says it may be missing', async () => {
  // Found by an operator pass: a restore-only credential and a backup whose artifact a lifecycle rule had removed
  // gave "access denied ... check the bucket policy", and the operator went looking at IAM instead of the bucket.
  const m = JSON.parse((await runInProcess(['list', '--json'], { ...s3.env })).stdout) as Array<{ id: string; artifact: string }>;
  const artifact = m.find((x) => x.id === id)!.artifact;
  const gone = proxy.fault;
  proxy.fault = (r) => (r.url.includes(artifact) ? { status: 403, code: 'AccessDenied' } : gone?.(r));
  try {
    const res = await runInProcess(['restore', id], env());
    expect(res.code).toBe(1);
    // The whole-artifact check's HEAD: a 403 without a body.
    expect(res.stderr).toContain(`reading s3://restore-only/default/${artifact}: the S3 server at RS_S3_ENDPOINT=${proxy.endpoint} refused the request (HTTP 403, no reason given)`);
    expect(res.stderr).toContain('or the object does not exist: without s3:ListBucket on the bucket, AWS S3 answers a missing object with 403 too');
  } finally {
    proxy.fault = gone;
  }
});
