import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startRun, killStarted } from '../helpers/background-run.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { startS3, type TestS3 } from '../helpers/s3.js';
import { startS3Proxy, type S3Proxy } from '../helpers/s3-proxy.js';
import { checkSigV4 } from '../helpers/sigv4.js';

/**
 * A `run` that lives for months outlives its S3 access key. When the credentials come from a file the AWS SDK reads
 * (AWS_SHARED_CREDENTIALS_FILE: a mounted Secret, a Vault agent), the key is rotated by rewriting the file and the
 * old key is then revoked. Found by an operator pass: the SDK keeps credentials without an expiry for the life of
 * the process, so every backup after the revocation failed (`it knows no such access key`) until run was restarted,
 * though the file named a key S3 accepts.
 */
let etcd: TestEtcd;
let s3: TestS3;
let proxy: S3Proxy;
let work: string;
/**
 * The one secret key the S3 server accepts once the old one is revoked (s3rver knows one access key, S3RVER, and
 * does not check signatures: the proxy in front of it checks them as S3 does).
 */
let onlySecret: string | undefined;

beforeAll(async () => {
  [etcd, s3, work] = await Promise.all([startEtcd(), startS3(), mkdtemp(join(tmpdir(), 'rs-s3-rotation-'))]);
  await etcd.ctl(['put', '/registry/namespaces/default', '{"kind":"Namespace"}']);
  proxy = await startS3Proxy(s3.endpoint);
  proxy.fault = ({ method, url, headers }) => {
    if (onlySecret === undefined) return undefined;
    return checkSigV4(method, url, headers, onlySecret)?.matches === false ? { status: 403, code: 'SignatureDoesNotMatch' } : undefined;
  };
});
afterAll(async () => {
  killStarted();
  await proxy?.close();
  await Promise.all([etcd?.stop(), s3?.stop()]);
  await rm(work, { recursive: true, force: true });
});

const credentials = (secret: string) => `[default]\naws_access_key_id = S3RVER\naws_secret_access_key = ${secret}\n`;

it('run takes an S3 access key rotated in AWS_SHARED_CREDENTIALS_FILE once the old one is revoked, without a restart', async () => {
  const file = join(work, 'credentials');
  await writeFile(file, credentials('secret-one'));
  const { ACCESS_KEY_ID: _id, SECRET_ACCESS_KEY: _secret, ...store } = s3.env;
  const run = startRun({
    RS_ETCD_ENDPOINTS: etcd.endpoint,
    ...store,
    RS_S3_ENDPOINT: proxy.endpoint,
    AWS_SHARED_CREDENTIALS_FILE: file,
    AWS_CONFIG_FILE: join(work, 'no-config'),
    RS_SCHEDULE: '* * * * * *',
    RS_HTTP_PORT: '0',
  });
  await run.until(/"msg":"backup completed"/);

  // The rotation: the file holds the new key, then the old one is revoked.
  await writeFile(file, credentials('secret-two'));
  onlySecret = 'secret-two';
  const mark = run.log().length;
  const completedAfter = () => run.log().slice(mark).split('\n').filter((l) => l.includes('"msg":"backup completed"')).length;
  const end = Date.now() + 90_000;
  while (completedAfter() < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  run.child().kill('SIGTERM');
  const res = await run.done;
  expect(completedAfter(), run.log().slice(mark).slice(-3000)).toBeGreaterThanOrEqual(2);
  expect(res.code, res.stderr.slice(-2000)).toBe(0);
}, 150_000);
