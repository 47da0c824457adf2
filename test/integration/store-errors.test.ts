import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import type { StoreConfig } from '../../src/config/types.js';
import { NotFoundError, StoreError } from '../../src/core/errors.js';
import { BackupRepository } from '../../src/store/backup-repository.js';
import { createStore } from '../../src/store/create-store.js';
import type { Store } from '../../src/store/types.js';
import { makeCerts } from '../helpers/certs.js';
import { runCli } from '../helpers/cli.js';
import { startEtcd } from '../helpers/etcd.js';
import { until } from '../helpers/faults.js';
import { freePort } from '../helpers/ports.js';
import { startS3, type TestS3 } from '../helpers/s3.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';

/**
 * Each store says how a request failed (StoreError.kind), decided at the adapter from the fs code or the SDK's error,
 * never from message text: a missing object is `not-found`, which the repository turns into "no backup".
 */
async function failure(p: Promise<unknown>): Promise<StoreError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(StoreError);
  return err as StoreError;
}

function s3Config(s3: TestS3, env: Record<string, string> = {}): StoreConfig {
  const loaded = loadConfig({ ...s3.env, RS_S3_RETRY_WINDOW: '1s', ...env });
  if (!loaded.config) throw new Error(loaded.errors.join('; '));
  return loaded.config.store;
}

describe('store failures', () => {
  let s3: TestS3;
  let dir: string;
  const opened: Store[] = [];
  const open = (cfg: StoreConfig) => {
    const store = createStore(cfg);
    opened.push(store);
    return store;
  };

  beforeAll(async () => {
    s3 = await startS3();
    dir = await mkdtemp(join(tmpdir(), 'rs-store-errors-'));
  });
  afterAll(async () => {
    await Promise.all(opened.map((s) => s.close()));
    await s3.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('a missing object is not-found, in a local directory and in S3', async () => {
    expect((await failure(open({ kind: 'local', dir }).get('c/missing.json'))).kind).toBe('not-found');
    expect((await failure(open(s3Config(s3)).get('c/missing.json'))).kind).toBe('not-found');
  });

  it('an unknown S3 access key is denied; a missing bucket is no-bucket, neither not-found nor denied', async () => {
    const denied = await failure(open(s3Config(s3, { ACCESS_KEY_ID: 'NOBODY', SECRET_ACCESS_KEY: 'not-the-secret' })).get('c/x.json'));
    expect(denied.kind).toBe('denied');
    expect(denied.message).toMatch(/refused the credentials: it knows no such access key \(InvalidAccessKeyId\): check ACCESS_KEY_ID$/);
    const noBucket = await failure(open(s3Config(s3, { RS_S3_BUCKET: 'no-such-bucket' })).get('c/x.json'));
    expect(noBucket.kind).toBe('no-bucket');
    expect(noBucket.message).toMatch(/bucket "no-such-bucket" does not exist/);
  });

  it('run with a bucket that does not exist: /healthz and /metrics say so from the start, not at the first backup', async () => {
    const port = await freePort();
    let stderr = '';
    let child: import('node:child_process').ChildProcess | undefined;
    const run = runCli(['run'], { ...s3.env, RS_S3_BUCKET: 'no-such-bucket', RS_S3_RETRY_WINDOW: '1s', RS_SCHEDULE: '0 0 1 1 *', RS_HTTP_PORT: String(port) }, {
      timeoutMs: 30_000,
      onStart: (c) => {
        child = c;
        c.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      },
    });
    try {
      await until(() => stderr.includes('"msg":"scheduler started"'), 'run to start');
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      const reason = ((await health.json()) as { reason: string }).reason;
      expect(health.status).toBe(503);
      expect(reason).toMatch(/^the store refused to list the backups at start \(backups will fail alike\): .*bucket "no-such-bucket" does not exist/);
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(Number(/^reshifter_backup_last_failure_timestamp_seconds (\S+)$/m.exec(metrics)?.[1])).toBeGreaterThan(Date.now() / 1000 - 60);
    } finally {
      child?.kill('SIGTERM');
      await run;
    }
  });

  it('backup and run into a bucket that does not exist fail before etcd is read, naming bucket and endpoint; counted', async () => {
    const etcd = await startEtcd();
    const proxy = await startTcpProxy(Number(new URL(etcd.endpoint).port));
    const env = { ...s3.env, RS_S3_BUCKET: 'no-such-bucket', RS_S3_RETRY_WINDOW: '1s', RS_ETCD_ENDPOINTS: `http://127.0.0.1:${proxy.port}` };
    const said = new RegExp(`backup not started: .*bucket "no-such-bucket" does not exist at RS_S3_ENDPOINT=${s3.endpoint.replace(/[.]/g, '\\.')}`);
    try {
      const backup = await runCli(['backup'], env);
      expect(backup.code, backup.stderr).toBe(1);
      expect(backup.stderr).toMatch(said);
      expect(backup.stderr).not.toContain('"msg":"backup started"');
      expect(proxy.connections).toBe(0);
      // run: the scheduled backup fails alike, and /metrics counts it as a failed backup.
      const port = await freePort();
      let stderr = '';
      let child: import('node:child_process').ChildProcess | undefined;
      const run = runCli(['run'], { ...env, RS_SCHEDULE: '* * * * * *', RS_HTTP_PORT: String(port) }, {
        timeoutMs: 30_000,
        onStart: (c) => {
          child = c;
          c.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
        },
      });
      try {
        await until(() => stderr.includes('"msg":"backup failed"'), 'a scheduled backup to fail');
        // A JSON log line: its quotes escaped.
        expect(stderr).toContain(`"err":"backup not started: listing s3://no-such-bucket/default/: bucket \\"no-such-bucket\\" does not exist at RS_S3_ENDPOINT=${s3.endpoint}`);
        const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        expect(Number(/^reshifter_backup_total\{[^}]*outcome="failure"[^}]*\} (\S+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);
      } finally {
        child?.kill('SIGTERM');
        await run;
      }
      expect(stderr).not.toContain('"msg":"backup started"');
      expect(proxy.connections).toBe(0);
    } finally {
      await proxy.close();
      await etcd.stop();
    }
  });

  it('an endpoint with a path is named with it: the bucket is looked for under that path', async () => {
    // Before: "does not exist at RS_S3_ENDPOINT=http://127.0.0.1:PORT", the path left out, so an endpoint set to the
    // wrong path read as the right server and the bucket as missing.
    const res = await runCli(['list'], { ...s3.env, RS_S3_ENDPOINT: `${s3.endpoint}/proxy/s3/`, RS_S3_RETRY_WINDOW: '1s' });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`bucket "${s3.bucket}" does not exist at RS_S3_ENDPOINT=${s3.endpoint}/proxy/s3 (requests go to /proxy/s3/${s3.bucket}/...)`);
  });

  it('an S3 server that does not answer is transient once the retries give up', async () => {
    const cfg = s3Config(s3, { RS_S3_ENDPOINT: 'http://127.0.0.1:9', RS_S3_REQUEST_TIMEOUT: '1s' });
    const err = await failure(open(cfg).get('c/x.json'));
    expect(err.kind).toBe('transient');
    expect(err.message).toMatch(/gave up after \d+ attempts?/);
  });

  it('TLS failures name RS_S3_ENDPOINT and what to change: https to a plain HTTP server, an untrusted certificate', async () => {
    const plain = s3.endpoint.replace(/^http:/, 'https:');
    const noTls = await failure(open(s3Config(s3, { RS_S3_ENDPOINT: plain })).get('c/x.json'));
    expect(noTls.message).toContain(`RS_S3_ENDPOINT=${plain} is https, but the server there does not speak TLS (EPROTO): is it ${s3.endpoint}?`);
    const certs = await makeCerts();
    const server = createServer({ cert: await readFile(certs.server.cert), key: await readFile(certs.server.key) }, (_req, res) => res.end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const endpoint = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const untrusted = await failure(open(s3Config(s3, { RS_S3_ENDPOINT: endpoint })).get('c/x.json'));
      expect(untrusted.message).toMatch(new RegExp(`the server certificate of RS_S3_ENDPOINT=${endpoint} is not trusted \\([A-Z_]+\\): give its CA in RS_S3_CA_CERT`));
    } finally {
      server.close();
      await certs.remove();
    }
  });

  it('the repository says "no backup" for a missing manifest, and nothing else', async () => {
    const repo = new BackupRepository(open({ kind: 'local', dir }), 'c');
    await expect(repo.get('20260101T000000.000Z-aaaaaa', { kinds: 'any', reads: 'every backup' })).rejects.toThrow(NotFoundError);
    const noBucket = new BackupRepository(open(s3Config(s3, { RS_S3_BUCKET: 'no-such-bucket' })), 'c');
    const err = await noBucket.get('20260101T000000.000Z-aaaaaa', { kinds: 'any', reads: 'every backup' }).catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(NotFoundError);
    expect(err).toBeInstanceOf(StoreError);
  });
});
