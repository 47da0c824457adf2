import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { freePort } from '../helpers/ports.js';
import { until } from '../helpers/faults.js';
import { startS3, type TestS3 } from '../helpers/s3.js';

/**
 * Every command at LOG_LEVEL=debug, succeeding and failing, with known secrets in the environment: no output line,
 * error message, HTTP reply or metric may contain any of them.
 */
describe('secrets never leak', () => {
  let etcd: TestEtcd;
  let s3: TestS3;
  let dir: string;
  let identity: string;
  let recipient: string;
  let identityFile: string;
  const S3_SECRET = 'S3secret-4b1c9e7d2a6f8035';
  const ETCD_PASSWORD = 'etcdPw-9e2d71c4b08a5f36';
  const PASSPHRASE = 'passphrase-61d0c3f9a27e4b58';
  const API_TOKEN = 'apiToken-0f3a9c51e7d24b68';
  const outputs: Array<[string, string]> = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rs-secrets-'));
    identity = await generateX25519Identity();
    recipient = await identityToRecipient(identity);
    identityFile = join(dir, 'key.txt');
    await writeFile(identityFile, `# test key\n${identity}\n`, { mode: 0o600 });
    [etcd, s3] = await Promise.all([startEtcd(), startS3()]);
    for (let i = 0; i < 20; i++) await etcd.ctl(['put', `/registry/secrets/default/s${i}`, `v${i}`]);
    await etcd.ctl(['user', 'add', `root:${ETCD_PASSWORD}`]);
    await etcd.ctl(['auth', 'enable']);
  });
  afterAll(async () => {
    await Promise.all([etcd?.stop(), s3?.stop()]);
    await rm(dir, { recursive: true, force: true });
  });

  const SECRETS = () => [S3_SECRET, ETCD_PASSWORD, PASSPHRASE, API_TOKEN, identity, identity.slice(16, 40), Buffer.from(ETCD_PASSWORD).toString('base64')];
  const base = () => ({
    ...s3.env,
    SECRET_ACCESS_KEY: S3_SECRET,
    RS_ETCD_ENDPOINTS: etcd.endpoint,
    RS_ETCD_USERNAME: 'root',
    RS_ETCD_PASSWORD: ETCD_PASSWORD,
    RS_API_TOKEN: API_TOKEN,
    RS_KUBE_PREFIXES: '/registry',
    RS_HTTP_PORT: '0',
    LOG_LEVEL: 'debug',
  });
  const withKeys = () => ({ ...base(), RS_ENCRYPTION_RECIPIENTS: recipient, RS_ENCRYPTION_IDENTITY_FILE: identityFile, RS_ENCRYPTION_IDENTITY: identity });

  async function run(name: string, args: string[], env: Record<string, string>, expectCode?: number): Promise<CliResult> {
    const res = await runCli(args, env);
    outputs.push([name, res.stdout + res.stderr]);
    if (expectCode !== undefined) expect(res.code, `${name}: ${res.stderr}`).toBe(expectCode);
    return res;
  }

  it('succeeding commands: backup (snapshot, raw, passphrase), list, verify, stats, prune, explore, restore, version', async () => {
    await Promise.all([
      run('backup', ['backup', '--json'], withKeys(), 0),
      run('backup raw', ['backup', '--json'], { ...withKeys(), RS_CLUSTER_NAME: 'raw', RS_BACKUP_STRATEGY: 'raw' }, 0),
      run('backup passphrase', ['backup'], { ...base(), RS_CLUSTER_NAME: 'pp', RS_ENCRYPTION_PASSPHRASE: PASSPHRASE }, 0),
    ]);
    const raw = { ...withKeys(), RS_CLUSTER_NAME: 'raw' };
    await Promise.all([
      run('list', ['list'], withKeys(), 0),
      run('list json', ['list', '--json'], withKeys(), 0),
      run('verify', ['verify', '--json'], withKeys(), 0),
      run('verify passphrase', ['verify'], { ...base(), RS_CLUSTER_NAME: 'pp', RS_ENCRYPTION_PASSPHRASE: PASSPHRASE }, 0),
      run('stats backup', ['stats', 'latest', '--json'], raw, 0),
      run('stats live', ['stats', '--json'], withKeys(), 0),
      run('prune', ['prune', '--dry-run'], { ...withKeys(), RS_RETENTION_KEEP_LAST: '1' }, 0),
      run('explore', ['explore', '--json'], withKeys(), 0),
      run('restore dry run', ['restore', 'latest', '--dry-run'], raw, 0),
      run('version', ['version', '--json'], withKeys(), 0),
    ]);
    await run('restore', ['restore', 'latest', '--skip-existing'], raw, 0);
  });

  it('failing commands: bad etcd password, unreachable S3, wrong keys, bad configuration', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const other = await generateX25519Identity();
    const raw = { ...base(), RS_CLUSTER_NAME: 'raw' };
    await Promise.all([
      run('backup bad etcd password', ['backup'], { ...withKeys(), RS_ETCD_PASSWORD: `${ETCD_PASSWORD}x` }, 1),
      run('explore bad etcd password', ['explore'], { ...withKeys(), RS_ETCD_PASSWORD: `x${ETCD_PASSWORD}` }, 1),
      run('backup dead S3', ['backup'], { ...withKeys(), RS_S3_ENDPOINT: dead, RS_S3_RETRY_WINDOW: '2s' }, 1),
      run('list dead S3', ['list'], { ...withKeys(), RS_S3_ENDPOINT: dead, RS_S3_RETRY_WINDOW: '2s' }, 1),
      run('verify wrong passphrase', ['verify'], { ...base(), RS_CLUSTER_NAME: 'pp', RS_ENCRYPTION_PASSPHRASE: `${PASSPHRASE}-wrong` }, 1),
      run('verify wrong identity', ['verify'], { ...base(), RS_ENCRYPTION_IDENTITY: other }, 1),
      run('restore wrong identity', ['restore', 'latest'], { ...raw, RS_ENCRYPTION_IDENTITY: other }, 1),
      // Configuration errors that involve the secret variables themselves.
      run('config: short token', ['list'], { ...withKeys(), RS_API_TOKEN: API_TOKEN.slice(0, 10) }, 2),
      run('config: password alone', ['list'], { ...withKeys(), RS_ETCD_USERNAME: '' }, 2),
      run('config: passphrase and recipients', ['backup'], { ...withKeys(), RS_ENCRYPTION_PASSPHRASE: PASSPHRASE }, 2),
      run('config: malformed identity', ['verify'], { ...withKeys(), RS_ENCRYPTION_IDENTITY: `${identity.slice(0, -1)}${identity.endsWith('Q') ? 'P' : 'Q'}` }, 2),
      run('config: secret alone', ['list'], { ...withKeys(), ACCESS_KEY_ID: '' }, 2),
    ]);
  });

  it('run: its log, /metrics, /healthz and the API (with a wrong token too)', async () => {
    const port = await freePort();
    let child!: ChildProcess;
    let stderr = '';
    const running = runCli(['run'], { ...withKeys(), RS_SCHEDULE: '*/2 * * * * *', RS_HTTP_PORT: String(port), RS_RETENTION_KEEP_LAST: '3' }, {
      onStart: (c) => {
        child = c;
        c.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      },
    });
    await until(() => /backup completed/.test(stderr), 'a scheduled backup', 30_000);
    const get = async (path: string, token?: string) => {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
      const body = await res.text();
      outputs.push([`GET ${path}`, `${res.status} ${JSON.stringify([...res.headers])} ${body}`]);
      return res.status;
    };
    expect(await get('/metrics')).toBe(200);
    expect(await get('/healthz')).toBe(200);
    expect(await get('/api/v1/backups', API_TOKEN)).toBe(200);
    expect(await get('/api/v1/explore', API_TOKEN)).toBe(200);
    expect(await get('/api/v1/backups', `${API_TOKEN}x`)).toBe(401);
    child.kill('SIGTERM');
    const res = await running;
    outputs.push(['run', res.stdout + res.stderr]);
  });

  it('no output above contains a secret', () => {
    expect(outputs.length).toBeGreaterThan(25);
    // Debug logging was on (the level where details, and so leaks, are likeliest).
    expect(outputs.some(([, text]) => text.includes('"level":"debug"'))).toBe(true);
    for (const [name, text] of outputs) {
      for (const secret of SECRETS()) expect(text.includes(secret), `${name} printed a secret:\n${text}`).toBe(false);
    }
  });

  it("tells the S3 SDK's debug lines about each command by its name and status, never as [object Object]", () => {
    const sdkLines = outputs.flatMap(([, text]) => text.split('\n').filter((l) => l.includes('"sdk":"aws-s3"')));
    expect(sdkLines.some((l) => /"detail":"(PutObject|UploadPart|ListObjectsV2)Command: done \(HTTP 200/.test(l))).toBe(true);
    expect(sdkLines.filter((l) => l.includes('[object Object]'))).toEqual([]);
  });
});
