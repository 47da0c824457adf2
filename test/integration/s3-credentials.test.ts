import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { until } from '../helpers/faults.js';
import { freePort } from '../helpers/ports.js';
import { startS3, type TestS3 } from '../helpers/s3.js';
import { startS3Proxy, type S3Proxy } from '../helpers/s3-proxy.js';
import { checkSigV4 } from '../helpers/sigv4.js';

/**
 * Credentials the S3 server refuses: an access key it does not know (s3rver checking signatures answers
 * InvalidAccessKeyId) and a wrong secret key (SignatureDoesNotMatch: s3rver does not check SigV4 signatures, so a
 * proxy in front of it checks each request's signature as S3 does). Each command names the refusal and the variable
 * to check, never prints the secret, and fails; `run` turns /healthz 503.
 */
describe('S3 credentials the endpoint refuses', () => {
  let etcd: TestEtcd;
  let s3: TestS3;
  let proxy: S3Proxy;
  /** A bucket policy that denies listing to the right credentials: the proxy answers as S3 does then. */
  let policyDeniesList = false;
  /** Another 403 the listing is answered with, by its code. */
  let listRefusedWith: string | undefined;
  const WRONG_SECRET = 'wrongSecret-5e1d9c3b7a2f4068';
  const refusedSecret = /refused the credentials: the request signature does not match \(SignatureDoesNotMatch\), so the secret key is not the one of that access key: check SECRET_ACCESS_KEY/;
  const unknownKey = /refused the credentials: it knows no such access key \(InvalidAccessKeyId\): check ACCESS_KEY_ID/;

  beforeAll(async () => {
    [etcd, s3] = await Promise.all([startEtcd(), startS3('backups', { checkSignatures: true })]);
    await etcd.ctl(['put', '/registry/namespaces/default', '{"kind":"Namespace"}']);
    proxy = await startS3Proxy(s3.endpoint);
    proxy.fault = ({ op, method, url, headers }) => {
      const sig = checkSigV4(method, url, headers, s3.env.SECRET_ACCESS_KEY!);
      if (sig?.accessKeyId === s3.env.ACCESS_KEY_ID && !sig.matches) return { status: 403, code: 'SignatureDoesNotMatch' };
      if (listRefusedWith !== undefined && op === 'ListObjects') return { status: 403, code: listRefusedWith };
      return policyDeniesList && op === 'ListObjects' ? { status: 403, code: 'AccessDenied' } : undefined;
    };
  });
  afterAll(async () => {
    await proxy?.close();
    await Promise.all([etcd?.stop(), s3?.stop()]);
  });

  const env = (over: Record<string, string> = {}) => ({ RS_ETCD_ENDPOINTS: etcd.endpoint, ...s3.env, RS_S3_ENDPOINT: proxy.endpoint, LOG_LEVEL: 'debug', ...over });
  const CLOCK_STEP = new URL('../helpers/preload/clock-step.mjs', import.meta.url).pathname;
  const leaks = (...texts: string[]) => texts.filter((t) => t.includes(WRONG_SECRET));

  // Before: 'no S3 credentials: set ACCESS_KEY_ID and SECRET_ACCESS_KEY' also to an operator who set AWS_PROFILE (an
  // aws CLI habit), in a pod with HOME unset, where the SDK looks in the home of the user: /nonexistent for nobody.
  it('no credentials at all: with AWS_PROFILE set, names the profile and the files it was looked for in', async () => {
    const home = mkdtempSync(join(tmpdir(), 'rs-no-creds-'));
    try {
      const { ACCESS_KEY_ID: _a, SECRET_ACCESS_KEY: _s, ...keyless } = env() as Record<string, string>;
      const none = { ...keyless, HOME: home, AWS_EC2_METADATA_DISABLED: 'true' };
      const plain = await runCli(['list'], none);
      expect(plain.code).toBe(1);
      expect(plain.stderr).toContain('no S3 credentials: set ACCESS_KEY_ID and SECRET_ACCESS_KEY\n');
      const profiled = await runCli(['list'], { ...none, AWS_PROFILE: 'prod' });
      expect(profiled.code).toBe(1);
      expect(profiled.stderr).toContain(
        `no S3 credentials: AWS_PROFILE=prod names a profile that neither ${join(home, '.aws', 'credentials')} nor ${join(home, '.aws', 'config')} gives credentials for: ` +
          'set AWS_SHARED_CREDENTIALS_FILE (or AWS_CONFIG_FILE) to the file that holds it, or set ACCESS_KEY_ID and SECRET_ACCESS_KEY',
      );
      const { HOME: _h, ...homeless } = { ...none, AWS_PROFILE: 'prod', AWS_SHARED_CREDENTIALS_FILE: join(home, 'creds') };
      const unset = await runCli(['list'], homeless);
      expect(unset.stderr).toContain(`neither ${join(home, 'creds')} nor ${join(userInfo().homedir, '.aws', 'config')} gives credentials for (HOME is not set: the home of uid ${process.getuid!()} is ${userInfo().homedir}): `);
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('the right credentials pass the signature check (so the check is S3\'s, not a refusal of everything)', async () => {
    const ok = await runCli(['backup'], env());
    expect(ok.code, ok.stderr.slice(-2000)).toBe(0);
    expect(proxy.requests.some((r) => r.status === 403)).toBe(false);
  });

  it.each([
    ['a wrong SECRET_ACCESS_KEY', { SECRET_ACCESS_KEY: WRONG_SECRET }, refusedSecret],
    ['an unknown ACCESS_KEY_ID', { ACCESS_KEY_ID: 'AKIAUNKNOWN0000000', SECRET_ACCESS_KEY: WRONG_SECRET }, unknownKey],
  ])('%s: backup and list fail saying which variable to check, without the secret', async (_what, over, said) => {
    for (const args of [['backup'], ['list']]) {
      const res = await runCli(args, env(over));
      expect(res.code, `${args[0]}: ${res.stderr.slice(-2000)}`).toBe(1);
      const message = res.stderr.trimEnd().split('\n').at(-1)!;
      expect(message, args[0]).toMatch(/^reshifter: (uploading|listing) s3:\/\/backups\//);
      expect(message, args[0]).toMatch(said);
      expect(leaks(res.stdout, res.stderr), args[0]).toEqual([]);
      // A refused PutObject stored nothing: no attempt to delete an object that cannot exist, and no warning that it may.
      expect(res.stderr, args[0]).not.toMatch(/could not delete the object of the failed upload/);
      expect(proxy.requests.filter((r) => r.op === 'DeleteObject' && r.status === 403), args[0]).toEqual([]);
    }
  });

  it('credentials accepted but denied by the bucket policy: list says so, not that the credentials are wrong', async () => {
    policyDeniesList = true;
    try {
      const res = await runCli(['list'], env());
      expect(res.code, res.stderr.slice(-2000)).toBe(1);
      expect(res.stderr.trimEnd().split('\n').at(-1)).toMatch(
        /^reshifter: listing s3:\/\/backups\/default\/: access denied \(AccessDenied\): the S3 server at RS_S3_ENDPOINT=\S+ accepted the credentials, but they may not do this in bucket "backups": check the bucket policy and the permissions of ACCESS_KEY_ID$/,
      );
    } finally {
      policyDeniesList = false;
    }
  });

  // Found by an operator pass: a 403 whose code was none of the credential faults nor AccessDenied was said as a
  // 403 with "no reason given" (and read as a missing object), though S3 gave its code: a clock 20 minutes off
  // (RequestTimeTooSkewed, which AWS answers with 403) sent the operator to check the keys. The hint is chosen by the
  // error's code as the SDK gives it, never by a message's text.
  it('a 403 of a clock too far off says so, not that the credentials may be wrong', async () => {
    listRefusedWith = 'RequestTimeTooSkewed';
    try {
      const res = await runCli(['list'], env({ RS_S3_RETRY_WINDOW: '1s' }));
      expect(res.code, res.stderr.slice(-2000)).toBe(1);
      const message = res.stderr.trimEnd().split('\n').at(-1)!;
      expect(message).toMatch(/^reshifter: listing s3:\/\/backups\/default\/: the S3 server at RS_S3_ENDPOINT=\S+ refused the request: this machine's clock is more than 15 minutes off the server's \(RequestTimeTooSkewed\), and signed requests carry the time: set the clock \(NTP\)/);
      expect(message).not.toMatch(/no reason given|SECRET_ACCESS_KEY/);
    } finally {
      listRefusedWith = undefined;
    }
  });

  // Found by an operator pass: RequestTimeTooSkewed was retried as transient for the whole RS_S3_RETRY_WINDOW (60 s,
  // each request of a backup in turn) before the clock was named. The SDK corrects its clock offset from the refusal,
  // so one more attempt is made; refused again, it fails at once. s3rver takes the corrected attempt (see the next
  // test), so a refusal that persists is made by the test proxy in front of it, answering S3's documented error.
  it('a clock refused again after the SDK corrected it fails after that one retry, not the retry window', async () => {
    listRefusedWith = 'RequestTimeTooSkewed';
    const before = proxy.requests.length;
    try {
      const res = await runCli(['list'], env({ RS_S3_RETRY_WINDOW: '10s' }));
      expect(res.code, res.stderr.slice(-2000)).toBe(1);
      expect(res.stderr.trimEnd().split('\n').at(-1)).toMatch(/^reshifter: listing s3:\/\/backups\/default\/: .*\(RequestTimeTooSkewed\), and signed requests carry the time: set the clock \(NTP\)$/);
      expect(proxy.requests.slice(before).filter((r) => r.op === 'ListObjects').length).toBe(2);
    } finally {
      listRefusedWith = undefined;
    }
  });

  it('a clock 20 minutes behind is corrected by the SDK from the refusal: s3rver itself takes the second attempt', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rs-clock-behind-'));
    try {
      const file = join(dir, 'step');
      await writeFile(file, String(-20 * 60_000));
      const res = await runCli(['backup'], { ...env({ RS_S3_ENDPOINT: s3.endpoint }), NODE_OPTIONS: `--import ${CLOCK_STEP}`, RESHIFTER_TEST_CLOCK_STEP: file });
      expect(res.code, res.stderr.slice(-2000)).toBe(0);
      // s3rver's own refusal of the first attempt, retried once.
      expect(res.stderr).toContain('The difference between the request time and the current time is too large');
      // The refused request is the listing that orders the new id, which a backup only warns about when it fails: its
      // success (the retry) shows in no warning, and list, whose first request it is, succeeds under the same clock.
      expect(res.stderr).not.toContain('could not list the backups');
      const list = await runCli(['list'], { ...env({ RS_S3_ENDPOINT: s3.endpoint }), NODE_OPTIONS: `--import ${CLOCK_STEP}`, RESHIFTER_TEST_CLOCK_STEP: file });
      expect(list.code, list.stderr.slice(-2000)).toBe(0);
      const id = /"backupId":"([^"]+)".*"msg":"backup completed"/.exec(res.stderr)?.[1];
      expect(id, res.stderr.slice(-2000)).toBeDefined();
      expect(list.stdout).toContain(id!);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a 403 with another code names it and what S3 said', async () => {
    listRefusedWith = 'AccountProblem';
    try {
      const res = await runCli(['list'], env());
      expect(res.code, res.stderr.slice(-2000)).toBe(1);
      const message = res.stderr.trimEnd().split('\n').at(-1)!;
      expect(message).toMatch(/^reshifter: listing s3:\/\/backups\/default\/: the S3 server at RS_S3_ENDPOINT=\S+ refused the request \(HTTP 403, AccountProblem: injected by the test proxy\): check that the credentials of ACCESS_KEY_ID may use bucket "backups"$/);
    } finally {
      listRefusedWith = undefined;
    }
  });

  // An object read refused with a coded 403 other than AccessDenied: the reason is S3's, never the "may not exist"
  // hint that only AccessDenied or a HEAD's bare 403 may carry (it was chosen by our own message's text).
  it('an object read refused for a clock too far off does not say the object may not exist', async () => {
    const listed = await runCli(['list', '--json'], env());
    expect(listed.code, listed.stderr.slice(-2000)).toBe(0);
    const id = (JSON.parse(listed.stdout) as Array<{ id: string }>)[0]!.id;
    const gone = proxy.fault;
    proxy.fault = (r) => (r.op === 'GetObject' ? { status: 403, code: 'RequestTimeTooSkewed' } : gone?.(r));
    try {
      const res = await runCli(['verify', id], env({ RS_S3_RETRY_WINDOW: '1s' }));
      expect(res.code, res.stderr.slice(-2000)).toBe(1);
      const message = res.stderr.trimEnd().split('\n').at(-1)!;
      expect(message).toMatch(/^reshifter: .*reading s3:\/\/backups\/default\/\S+: the S3 server at RS_S3_ENDPOINT=\S+ refused the request: this machine's clock is more than 15 minutes off the server's \(RequestTimeTooSkewed\)/);
      expect(message).not.toMatch(/does not exist|no reason given|SECRET_ACCESS_KEY/);
    } finally {
      proxy.fault = gone;
    }
  });

  /** `run` with a wrong secret key on `schedule`: the process, its HTTP port and its stderr so far. */
  async function runWithWrongSecret(schedule: string): Promise<{ port: number; child: ChildProcess; stderr: () => string; run: Promise<CliResult> }> {
    const port = await freePort();
    let child: ChildProcess | undefined;
    let stderr = '';
    const run = runCli(['run'], env({ SECRET_ACCESS_KEY: WRONG_SECRET, RS_SCHEDULE: schedule, RS_HTTP_PORT: String(port) }), {
      timeoutMs: 40_000,
      onStart: (c) => {
        child = c;
        c.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      },
    });
    return { port, child: child!, stderr: () => stderr, run };
  }

  it('run: with a wrong secret key, /healthz is 503 from the start, not only once a backup is due and fails', async () => {
    const { port, child, stderr, run } = await runWithWrongSecret('0 0 1 1 *');
    try {
      await until(() => stderr().includes('"msg":"scheduler started"'), 'run to start');
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      const body = await health.text();
      expect(health.status, body).toBe(503);
      const reason = (JSON.parse(body) as { reason: string }).reason;
      expect(reason).toMatch(/^the store refused to list the backups at start \(backups will fail alike\): listing s3:\/\/backups\/default\/: /);
      expect(reason).toMatch(refusedSecret);
      // A scraper sees it too, before any backup has run: the last failure is after the last success.
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1]);
      expect(value('reshifter_backup_last_failure_timestamp_seconds')).toBeGreaterThan(Date.now() / 1000 - 60);
      expect(value('reshifter_backup_last_failure_timestamp_seconds')).toBeGreaterThan(value('reshifter_backup_last_success_timestamp_seconds'));
      expect(metrics).not.toMatch(/reshifter_backup_total\{/);
      child.kill('SIGTERM');
      const res = await run;
      expect(res.code).toBe(0);
      expect(leaks(res.stdout, res.stderr, body, metrics)).toEqual([]);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('run: a scheduled backup with a wrong secret key fails, /healthz is 503 and says why', async () => {
    const { port, child, stderr, run } = await runWithWrongSecret('*/2 * * * * *');
    try {
      await until(() => stderr().includes('"msg":"backup failed"'), 'a scheduled backup to fail');
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      const body = await health.text();
      expect(health.status, body).toBe(503);
      expect((JSON.parse(body) as { reason: string }).reason).toMatch(refusedSecret);
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      expect(metrics).toMatch(/reshifter_backup_total\{[^}]*outcome="failure"[^}]*\} [1-9]/);
      child.kill('SIGTERM');
      const res = await run;
      expect(leaks(res.stdout, res.stderr, body, metrics)).toEqual([]);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
