import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { loadBigValues } from '../helpers/faults.js';
import { startS3Proxy, type S3Proxy } from '../helpers/s3-proxy.js';
import { startS3, type TestS3 } from '../helpers/s3.js';

/** How stored backups are protected: owner-only local files and folders, and S3 server-side encryption. */
describe('store protection', () => {
  let etcd: TestEtcd;
  let s3: TestS3;
  let proxy: S3Proxy;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rs-protect-'));
    [etcd, s3] = await Promise.all([startEtcd(), startS3()]);
    await loadBigValues(etcd.endpoint, 20); // a 10 MiB snapshot: uploaded in parts
    proxy = await startS3Proxy(s3.endpoint);
  });
  afterAll(async () => {
    await proxy?.close();
    await Promise.all([etcd?.stop(), s3?.stop()]);
    await rm(dir, { recursive: true, force: true });
  });

  it('local backups are readable by their owner only (folders 0700, files 0600), whatever the umask', async () => {
    const store = join(dir, 'local', 'nested');
    const previous = process.umask(0o000);
    try {
      const res = await runCli(['backup', '--json'], { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: store, RS_COMPRESSION: 'none' });
      expect(res.code).toBe(0);
    } finally {
      process.umask(previous);
    }
    const mode = async (p: string) => (await stat(p)).mode & 0o777;
    expect(await mode(join(dir, 'local'))).toBe(0o700);
    expect(await mode(store)).toBe(0o700);
    expect(await mode(join(store, 'default'))).toBe(0o700);
    const files = await readdir(join(store, 'default'));
    expect(files).toHaveLength(2);
    for (const f of files) expect(await mode(join(store, 'default', f)), f).toBe(0o600);
  });

  it.each([
    ['AES256', {}, { 'x-amz-server-side-encryption': 'AES256' }],
    ['aws:kms', { RS_S3_SSE_KMS_KEY_ID: 'arn:aws:kms:eu-west-1:111122223333:key/test' }, { 'x-amz-server-side-encryption': 'aws:kms', 'x-amz-server-side-encryption-aws-kms-key-id': 'arn:aws:kms:eu-west-1:111122223333:key/test' }],
  ])('RS_S3_SSE=%s is sent with every object written (multipart artifact and manifest)', async (sse, extra, headers) => {
    const n = proxy.requests.length;
    const res = await runCli(['backup'], { ...s3.env, RS_S3_ENDPOINT: proxy.endpoint, RS_ETCD_ENDPOINTS: etcd.endpoint, RS_COMPRESSION: 'none', RS_S3_SSE: sse, ...extra });
    expect(res.stderr).toMatch(/backup completed/);
    expect(res.code).toBe(0);
    const writes = proxy.requests.slice(n).filter((r) => r.op === 'CreateMultipartUpload' || r.op === 'PutObject');
    expect(writes.map((r) => r.op).sort()).toEqual(['CreateMultipartUpload', 'PutObject']);
    for (const w of writes) expect(w.headers, w.op).toMatchObject(headers);
  });

  it('without RS_S3_SSE, no encryption header is sent (the bucket default applies)', async () => {
    const n = proxy.requests.length;
    const res = await runCli(['backup'], { ...s3.env, RS_S3_ENDPOINT: proxy.endpoint, RS_ETCD_ENDPOINTS: etcd.endpoint, RS_COMPRESSION: 'none' });
    expect(res.code).toBe(0);
    const writes = proxy.requests.slice(n).filter((r) => r.op === 'CreateMultipartUpload' || r.op === 'PutObject');
    expect(writes.map((r) => r.op).sort()).toEqual(['CreateMultipartUpload', 'PutObject']);
    for (const w of proxy.requests.slice(n)) expect(w.headers['x-amz-server-side-encryption'], w.op).toBeUndefined();
  });
});
