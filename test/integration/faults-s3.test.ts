import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { bucketKeys, loadBigValues, whileRunning } from '../helpers/faults.js';
import { startS3Proxy, type S3Proxy } from '../helpers/s3-proxy.js';
import { startS3, type TestS3 } from '../helpers/s3.js';

/**
 * The S3 server failing: transient errors retried with backoff (over RS_S3_RETRY_WINDOW, short here), a server that
 * stays down ends the run with exit 1 and a clear message, and no earlier backup is ever deleted. A recording proxy in
 * front of s3rver injects the errors and counts the attempts.
 */
describe('S3 faults', () => {
  let etcd: TestEtcd;
  let s3: TestS3;
  let proxy: S3Proxy;

  beforeAll(async () => {
    [etcd, s3] = await Promise.all([startEtcd(), startS3()]);
    await loadBigValues(etcd.endpoint, 24); // a 12 MiB snapshot: a multipart upload
    proxy = await startS3Proxy(s3.endpoint);
  });
  afterAll(async () => {
    await proxy?.close();
    await Promise.all([etcd?.stop(), s3?.stop()]);
  });

  const env = (extra: Record<string, string> = {}) => ({
    ...s3.env, RS_S3_ENDPOINT: proxy.endpoint, RS_ETCD_ENDPOINTS: etcd.endpoint, RS_COMPRESSION_LEVEL: '1', RS_S3_RETRY_WINDOW: '3s', ...extra,
  });
  const GAVE_UP = String.raw`\(gave up after \d+ attempts over \d+(\.\d)?m?s; RS_S3_RETRY_WINDOW is 3s\)`;
  const since = (n: number, op: string) => proxy.requests.slice(n).filter((r) => r.op === op);
  const expectClearFailure = (res: CliResult, message: RegExp) => {
    expect(res.stderr).toMatch(message);
    expect(res.code).toBe(1);
    expect(res.stderr).not.toMatch(/\n\s+at |this is a bug/);
  };

  it('retries transient errors (500 InternalError) with backoff and succeeds', async () => {
    const n = proxy.requests.length;
    proxy.fault = ({ op, attempt }) => (['PutObject', 'UploadPart', 'CreateMultipartUpload'].includes(op) && attempt <= 2 ? { status: 500, code: 'InternalError' } : undefined);
    try {
      const res = await runCli(['backup', '--json'], env({ RS_S3_RETRY_WINDOW: '60s' }));
      expect(res.stderr).toMatch(/backup completed/);
      expect(res.code).toBe(0);
    } finally {
      proxy.fault = undefined;
    }
    // Each request failed twice and went through on its third attempt.
    const parts = since(n, 'UploadPart');
    expect(parts.filter((r) => r.status === 500).length).toBe(2 * parts.filter((r) => r.status === 200).length);
    expect(since(n, 'PutObject').map((r) => r.status)).toEqual([500, 500, 200]); // the manifest
    expect((await runCli(['verify'], env())).code).toBe(0);
  });

  it('gives up once the retry window has passed, exit 1, nothing listed', async () => {
    const before = await bucketKeys(s3);
    const n = proxy.requests.length;
    proxy.fault = ({ op }) => (op === 'UploadPart' ? { status: 503, code: 'ServiceUnavailable' } : undefined);
    let res: CliResult;
    try {
      res = await runCli(['backup'], env());
    } finally {
      proxy.fault = undefined;
    }
    expectClearFailure(res, new RegExp(String.raw`reshifter: uploading s3://backups/default/.*\.snapshot\.db\.zst: .*\(HTTP 503\) ${GAVE_UP}`));
    // Every part was tried more than once (exponential backoff with jitter), and no more than the window allows.
    const tries = new Map<string, number>();
    for (const r of since(n, 'UploadPart')) {
      const part = new URL(r.url, 'http://x').searchParams.get('partNumber')!;
      tries.set(part, (tries.get(part) ?? 0) + 1);
    }
    expect(Math.max(...tries.values())).toBeGreaterThan(1);
    expect(Math.max(...tries.values())).toBeLessThan(30);
    expect(since(n, 'AbortMultipartUpload').length).toBeGreaterThanOrEqual(1);
    expect(since(n, 'CompleteMultipartUpload')).toHaveLength(0);
    expect(await bucketKeys(s3)).toEqual(before);
  });

  it('S3 server killed mid-upload: exit 1 with a clear message; after it is back, earlier backups are intact', async () => {
    const before = await bucketKeys(s3);
    expect(before.length).toBeGreaterThan(0);
    const n = proxy.requests.length;
    const running = runCli(['backup'], env({ RS_RETENTION_KEEP_LAST: '1' }));
    let res: CliResult;
    try {
      await whileRunning(running, () => since(n, 'UploadPart').length > 0, 'the first part upload');
      await s3.kill();
      res = await running;
    } finally {
      await s3.restart(); // the later tests need it whatever happened here
    }
    expectClearFailure(res, new RegExp(String.raw`reshifter: uploading s3://backups/default/.*: the S3 server did not answer .*${GAVE_UP}`));
    expect(since(n, 'DeleteObject')).toHaveLength(0);
    expect(await bucketKeys(s3)).toEqual(before);
    expect((await runCli(['verify'], env())).code).toBe(0);
  });

  it('S3 failing when retention runs: exit 1, the new backup kept, no earlier backup deleted', async () => {
    const before = await bucketKeys(s3);
    const n = proxy.requests.length;
    proxy.fault = ({ op }) => (op === 'DeleteObject' ? 'drop' : undefined);
    let res: CliResult;
    try {
      res = await runCli(['backup', '--json'], env({ RS_RETENTION_KEEP_LAST: '1' }));
    } finally {
      proxy.fault = undefined;
    }
    const stored = (JSON.parse(res.stdout) as { id: string }).id;
    expectClearFailure(res, new RegExp(String.raw`reshifter: backup ${stored} is stored, but the retention after it failed: deleting s3://backups/default/.*\.manifest\.json: the S3 server did not answer .*${GAVE_UP}`));
    expect(res.stderr).toMatch(/backup completed/);
    expect(res.stderr).toMatch(/retention failed/);
    // Deletion starts with a manifest, which failed (retried, always the same one): every earlier backup is still whole.
    expect(new Set(since(n, 'DeleteObject').map((r) => r.url)).size).toBe(1);
    expect(since(n, 'DeleteObject').length).toBeGreaterThan(1);
    const after = await bucketKeys(s3);
    expect(after.filter((k) => before.includes(k))).toEqual(before);
    expect(after.length).toBe(before.length + 2);

    // And `prune` with the server down: exit 1, nothing deleted once it is back.
    await s3.kill();
    let prune: CliResult;
    try {
      prune = await runCli(['prune'], env({ RS_RETENTION_KEEP_LAST: '1' }));
    } finally {
      await s3.restart();
    }
    expectClearFailure(prune, /reshifter: listing s3:\/\/backups\/default\/: the S3 server did not answer/);
    expect(await bucketKeys(s3)).toEqual(after);
  });

  // The request that makes the object was carried out, but its reply was lost with the connection: the object is
  // stored, and the upload failed (a retried completion finds no upload; a retried PutObject loses its reply again).
  // Nothing of the failed backup may stay: its object is deleted.
  it('the reply of a completed multipart upload lost: exit 1, the object it stored deleted', async () => {
    const before = await bucketKeys(s3);
    const n = proxy.requests.length;
    proxy.fault = ({ op, attempt }) => (op === 'CompleteMultipartUpload' && attempt === 1 ? 'lose-reply' : undefined);
    let res: CliResult;
    try {
      res = await runCli(['backup'], env());
    } finally {
      proxy.fault = undefined;
    }
    expectClearFailure(res, /reshifter: uploading s3:\/\/backups\/default\/.*\.snapshot\.db\.zst: /);
    expect(since(n, 'CompleteMultipartUpload').length).toBeGreaterThan(1);
    expect(since(n, 'DeleteObject')).toHaveLength(1);
    expect(await bucketKeys(s3)).toEqual(before);
  });

  it('the reply of every PutObject of an artifact lost: exit 1, the object it stored deleted', async () => {
    const client = new Etcd3({ hosts: etcd.endpoint });
    try {
      await client.put('/registry/secrets/lost/reply').value('a small secret: one PutObject');
    } finally {
      client.close();
    }
    const before = await bucketKeys(s3);
    const n = proxy.requests.length;
    proxy.fault = ({ op, url }) => (op === 'PutObject' && !url.includes('.manifest.json') ? 'lose-reply' : undefined);
    let res: CliResult;
    try {
      res = await runCli(['backup'], env({ RS_BACKUP_STRATEGY: 'filter:secrets' }));
    } finally {
      proxy.fault = undefined;
    }
    expectClearFailure(res, /reshifter: uploading s3:\/\/backups\/default\/.*\.raw\.tar\.zst: .*socket hang up/);
    expect(since(n, 'PutObject').length).toBeGreaterThan(1);
    expect(since(n, 'DeleteObject')).toHaveLength(1);
    expect(await bucketKeys(s3)).toEqual(before);
  });

  // Last: it makes the snapshot bigger. With more parts than uploads in flight, the upload gives up while etcd is
  // still streaming; the message must be the S3 error, not the pipe it broke.
  it('a long upload that fails reports the S3 error, not a broken pipe', async () => {
    await loadBigValues(etcd.endpoint, 80); // 40 MiB more: 5+ parts
    const n = proxy.requests.length;
    proxy.fault = ({ op }) => (op === 'UploadPart' ? { status: 500, code: 'InternalError' } : undefined);
    let res: CliResult;
    try {
      res = await runCli(['backup'], env({ RS_COMPRESSION: 'none', RS_S3_PREFIX: 'team/etcd' }));
    } finally {
      proxy.fault = undefined;
    }
    // The object's address as `aws s3 ls` takes it: bucket, prefix, cluster, file.
    expectClearFailure(res, new RegExp(String.raw`reshifter: uploading s3://backups/team/etcd/default/[^ ]*\.snapshot\.db: .*\(HTTP 500\) ${GAVE_UP}`));
    expect(res.stderr).not.toMatch(/premature close/i);
    // Four parts in flight, retried until the first gave up, which cut the others off; no fifth part started (the
    // rest of the snapshot was never read).
    const parts = new Set(since(n, 'UploadPart').map((r) => new URL(r.url, 'http://x').searchParams.get('partNumber')));
    expect(parts.size).toBeLessThanOrEqual(4);
  });
});
