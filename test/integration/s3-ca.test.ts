import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killStarted, startRun } from '../helpers/background-run.js';
import { runCli } from '../helpers/cli.js';
import { makeCerts, type TestCerts } from '../helpers/certs.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { startS3, type TestS3 } from '../helpers/s3.js';

/**
 * An S3 server behind https with a certificate of a private CA (MinIO with its own CA, as on-premises clusters run
 * it): a TLS-terminating relay in front of s3rver, as a load balancer or MinIO's own TLS would be. RS_S3_CA_CERT (or
 * the AWS CLI's AWS_CA_BUNDLE) trusts that CA; without it, or with another CA, the refusal names what to set.
 */
describe('an S3 server whose certificate a private CA signed', () => {
  let etcd: TestEtcd;
  let s3: TestS3;
  let certs: TestCerts;
  let relay: Server;
  let endpoint: string;

  beforeAll(async () => {
    [etcd, s3, certs] = await Promise.all([startEtcd(), startS3('backups'), makeCerts()]);
    await etcd.ctl(['put', '/registry/namespaces/default', '{"kind":"Namespace"}']);
    const target = new URL(s3.endpoint);
    relay = createServer({ cert: await readFile(certs.server.cert), key: await readFile(certs.server.key) }, (req, res) => {
      const up = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    endpoint = `https://127.0.0.1:${(relay.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    killStarted();
    relay?.closeAllConnections();
    relay?.close();
    await Promise.all([etcd?.stop(), s3?.stop(), certs?.remove()]);
  });

  const env = (over: Record<string, string> = {}) => ({ RS_ETCD_ENDPOINTS: etcd.endpoint, ...s3.env, RS_S3_ENDPOINT: endpoint, RS_S3_RETRY_WINDOW: '2s', ...over });

  it.each([
    ['RS_S3_CA_CERT', () => ({ RS_S3_CA_CERT: certs.ca })],
    ["the AWS CLI's AWS_CA_BUNDLE", () => ({ AWS_CA_BUNDLE: certs.ca })],
  ])('%s trusts the CA: backup, list and verify over https', async (_what, ca) => {
    const backup = await runCli(['backup', '--json'], env(ca()));
    expect(backup.code, backup.stderr.slice(-2000)).toBe(0);
    const { id } = JSON.parse(backup.stdout) as { id: string };
    const list = await runCli(['list'], env(ca()));
    expect(list.stdout).toContain(id);
    const verify = await runCli(['verify', id], env(ca()));
    expect(verify.code, verify.stderr.slice(-2000)).toBe(0);
  });

  it('no CA given: the refusal says to give it in RS_S3_CA_CERT', async () => {
    const res = await runCli(['list'], env());
    expect(res.code).toBe(1);
    expect(res.stderr.trimEnd().split('\n').at(-1)).toMatch(
      new RegExp(`the server certificate of RS_S3_ENDPOINT=${endpoint} is not trusted \\([A-Z_]+\\): give its CA in RS_S3_CA_CERT \\(a PEM file\\), or fix the certificate$`),
    );
  });

  it('another CA: the refusal names the variable and file that did not sign it', async () => {
    const res = await runCli(['list'], env({ AWS_CA_BUNDLE: certs.otherCa }));
    expect(res.code).toBe(1);
    expect(res.stderr.trimEnd().split('\n').at(-1)).toContain(`is not trusted (UNABLE_TO_VERIFY_LEAF_SIGNATURE) by the CA in AWS_CA_BUNDLE=${certs.otherCa}: give the CA that signed it`);
  });

  it('a file that is no certificate, or none at all: exit 2 naming the variable, before any request', async () => {
    const key = await runCli(['list'], env({ RS_S3_CA_CERT: certs.server.key }));
    expect(key.code).toBe(2);
    expect(key.stderr).toContain(`RS_S3_CA_CERT was invalid: "${certs.server.key}" holds no PEM certificate`);
    const missing = await runCli(['list'], env({ RS_S3_CA_CERT: '/nonexistent/ca.crt' }));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/RS_S3_CA_CERT was invalid: "\/nonexistent\/ca.crt" does not exist/);
  });

  /**
   * Found by an operator pass: run read RS_S3_CA_CERT once, so a MinIO whose certificate moved to a new CA (the CA
   * file rewritten in place by cert-manager or a mounted Secret) failed every backup with a TLS error until run was
   * restarted. A file caught half-written keeps the CA read before.
   */
  it('run trusts the new CA of a server whose certificate was rotated, once the CA file is rewritten, without a restart', async () => {
    const file = join(certs.dir, 'rotating-ca.crt');
    await copyFile(certs.ca, file);
    const run = startRun({ ...env({ RS_S3_CA_CERT: file }), RS_SCHEDULE: '* * * * * *', RS_HTTP_PORT: '0' });
    const completedSince = async (mark: number, n: number) => {
      const count = () => run.log().slice(mark).split('\n').filter((l) => l.includes('"msg":"backup completed"')).length;
      const end = Date.now() + 60_000;
      while (count() < n && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
      expect(count(), run.log().slice(mark).slice(-3000)).toBeGreaterThanOrEqual(n);
    };
    try {
      await run.until(/"msg":"backup completed"/);
      // Half of the new CA's file, as a reader may catch it mid-write: backups go on trusting the old CA.
      const next = await readFile(certs.otherCa);
      await writeFile(file, next.subarray(0, Math.floor(next.length / 2)));
      await run.until(/holds no whole certificate yet: keeping the CA read before/);
      await completedSince(run.log().length, 1);

      // The rotation: the server presents a certificate of the new CA, the file holds the new CA.
      relay.setSecureContext({ cert: await readFile(certs.otherServer.cert), key: await readFile(certs.otherServer.key) });
      relay.closeAllConnections();
      await writeFile(file, next);
      await completedSince(run.log().length, 2);
      expect(run.log()).toContain('the S3 CA file changed: new connections to the S3 server trust the CA it holds now');
    } finally {
      run.child().kill('SIGTERM');
    }
    const res = await run.done;
    expect(res.code, res.stderr.slice(-2000)).toBe(0);
  }, 150_000);
});
