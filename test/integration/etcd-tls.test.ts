import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { probeSpeaksTls, probeTls } from '../../src/etcd/tls-probe.js';
import { makeCerts, etcdTlsArgs, type TestCerts } from '../helpers/certs.js';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';

const execFileAsync = promisify(execFile);

/**
 * Secure etcd: a real etcd serving https with certificates made by openssl, with server TLS only and with
 * mutual TLS (--client-cert-auth). Every failure is exit 1 with a message that says what is wrong.
 */
describe('etcd over TLS', () => {
  let certs: TestCerts;
  let serverTls: TestEtcd;
  let mutual: TestEtcd;
  let expired: TestEtcd;
  let plain: TestEtcd;
  let dir: string;

  beforeAll(async () => {
    certs = await makeCerts();
    dir = await mkdtemp(join(tmpdir(), 'rs-tls-'));
    [serverTls, mutual, expired, plain] = await Promise.all([
      startEtcd({ scheme: 'https', args: etcdTlsArgs(certs), tls: { caFile: certs.ca } }),
      startEtcd({
        scheme: 'https',
        args: etcdTlsArgs(certs, { clientCertAuth: true }),
        tls: { caFile: certs.ca, certFile: certs.client.cert, keyFile: certs.client.key },
      }),
      startEtcd({ scheme: 'https', args: etcdTlsArgs(certs, { server: certs.expiredServer }) }),
      startEtcd(),
    ]);
    await mutual.ctl(['put', '/registry/secrets/default/tls', 'x']);
  });
  afterAll(async () => {
    await Promise.all([serverTls?.stop(), mutual?.stop(), expired?.stop(), plain?.stop()]);
    await certs?.remove();
    await rm(dir, { recursive: true, force: true });
  });

  const backup = (etcd: TestEtcd, extra: Record<string, string>) =>
    runCli(['backup'], { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: join(dir, 'store'), RS_ETCD_TIMEOUT: '5s', ...extra });

  const expectFailure = (res: { code: number | null; stderr: string }, message: RegExp) => {
    expect(res.stderr).toMatch(message);
    expect(res.code).toBe(1);
    // A message, not a stack trace.
    expect(res.stderr).not.toMatch(/\n\s+at /);
    expect(res.stderr).not.toMatch(/this is a bug/);
    // Files are named, never shown.
    expect(res.stderr).not.toMatch(/-----BEGIN|PRIVATE KEY/);
  };
  const quoted = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

  it('backs up over server TLS with only a CA (no client certificate)', async () => {
    const res = await backup(serverTls, { RS_ETCD_CA_CERT: certs.ca });
    expect(res.stderr).toMatch(/backup completed/);
    expect(res.code).toBe(0);
  });

  it('backs up over mutual TLS', async () => {
    const res = await backup(mutual, { RS_ETCD_CA_CERT: certs.ca, RS_ETCD_CLIENT_CERT: certs.client.cert, RS_ETCD_CLIENT_KEY: certs.client.key });
    expect(res.stderr).toMatch(/backup completed/);
    expect(res.code).toBe(0);
  });

  it('node dist/main.js, as README runs it, talks TLS to an IP endpoint with only JSON log lines on stderr (found by an operator pass)', async () => {
    // The launcher's --disable-warning=DEP0123 is in the shebang and the image's entrypoint, which `node dist/main.js`
    // skips: grpc-js names the IP as the TLS server name, and Node warned in bare text on every backup and explore.
    expect(mutual.endpoint).toMatch(/^https:\/\/(127\.0\.0\.1|\[::1\]):/);
    const tls = { RS_ETCD_CA_CERT: certs.ca, RS_ETCD_CLIENT_CERT: certs.client.cert, RS_ETCD_CLIENT_KEY: certs.client.key };
    for (const res of [await backup(mutual, tls), await runCli(['explore'], { RS_ETCD_ENDPOINTS: mutual.endpoint, ...tls })]) {
      expect(res.code).toBe(0);
      expect(res.stderr).not.toMatch(/DeprecationWarning|DEP0123/);
      for (const line of res.stderr.split('\n').filter((l) => l !== '')) expect(() => JSON.parse(line), line).not.toThrow();
    }
  });

  it("reaches etcd with etcdctl's own variables alone, as etcdctl does from the same shell", async () => {
    const etcdctlEnv = { ETCDCTL_API: '3', ETCDCTL_ENDPOINTS: mutual.endpoint, ETCDCTL_CACERT: certs.ca, ETCDCTL_CERT: certs.client.cert, ETCDCTL_KEY: certs.client.key };
    // The same environment works for etcdctl itself (the habit this serves).
    const ctl = await execFileAsync('etcdctl', ['get', '/registry/secrets/default/tls', '--print-value-only'], { env: { PATH: process.env.PATH, ...etcdctlEnv } });
    expect(ctl.stdout.trim()).toBe('x');
    const explore = await runCli(['explore', '--json'], { ...etcdctlEnv, RS_ETCD_TIMEOUT: '5s' });
    expect(explore.code).toBe(0);
    expect(JSON.parse(explore.stdout)).toMatchObject({ endpoints: [mutual.endpoint], tls: true, clientCertificate: true });
    expect(explore.stderr).toMatch(/etcd connection settings read from etcdctl's variables/);
    const res = await runCli(['backup'], { ...etcdctlEnv, RS_BACKUP_DIR: join(dir, 'etcdctl-store'), RS_ETCD_TIMEOUT: '5s' });
    expect(res.stderr).toMatch(/backup completed/);
    expect(res.code).toBe(0);
    // An RS_ variable wins over etcdctl's, one at a time: here another etcd, with etcdctl's CA.
    const own = await runCli(['explore', '--json'], { ...etcdctlEnv, RS_ETCD_ENDPOINTS: serverTls.endpoint, RS_ETCD_TIMEOUT: '5s' });
    expect(own.code).toBe(0);
    expect(JSON.parse(own.stdout)).toMatchObject({ endpoints: [serverTls.endpoint], tls: true });
    // An http:// endpoint with etcdctl's certificates is a configuration error that names the variables set.
    const mixed = await runCli(['explore'], { ...etcdctlEnv, RS_ETCD_ENDPOINTS: plain.endpoint, RS_ETCD_TIMEOUT: '5s' });
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toMatch(/ETCDCTL_CACERT and ETCDCTL_CERT are set but RS_ETCD_ENDPOINTS are http:\/\/ URLs: use https:\/\//);
  });

  it("takes a bare host:port with TLS files as https, as etcdctl does, and names etcdctl's variable in TLS errors", async () => {
    const bare = mutual.endpoint.replace(/^https:\/\//, '');
    const etcdctlEnv = { ETCDCTL_API: '3', ETCDCTL_ENDPOINTS: bare, ETCDCTL_CACERT: certs.ca, ETCDCTL_CERT: certs.client.cert, ETCDCTL_KEY: certs.client.key };
    // etcdctl itself speaks TLS to a bare endpoint when it has certificates: the habit this follows.
    const ctl = await execFileAsync('etcdctl', ['get', '/registry/secrets/default/tls', '--print-value-only'], { env: { PATH: process.env.PATH, ...etcdctlEnv } });
    expect(ctl.stdout.trim()).toBe('x');
    const explore = await runCli(['explore', '--json'], { ...etcdctlEnv, RS_ETCD_TIMEOUT: '5s' });
    expect(explore.code, explore.stderr).toBe(0);
    expect(JSON.parse(explore.stdout)).toMatchObject({ endpoints: [`https://${bare}`], tls: true, clientCertificate: true });
    // The same with reshifter's own variables.
    const own = await runCli(['explore', '--json'], { RS_ETCD_ENDPOINTS: bare, RS_ETCD_CA_CERT: certs.ca, RS_ETCD_CLIENT_CERT: certs.client.cert, RS_ETCD_CLIENT_KEY: certs.client.key, RS_ETCD_TIMEOUT: '5s' });
    expect(own.code, own.stderr).toBe(0);
    // A wrong CA given as ETCDCTL_CACERT is named so.
    const wrongCa = await runCli(['explore'], { ...etcdctlEnv, ETCDCTL_CACERT: certs.otherCa, RS_ETCD_TIMEOUT: '5s' });
    expectFailure(wrongCa, new RegExp(`server certificate is not signed by ETCDCTL_CACERT=${quoted(certs.otherCa)}$`, 'm'));
    // Without certificates a bare endpoint is plain http, as for etcdctl.
    const plainBare = await runCli(['explore', '--json'], { ETCDCTL_ENDPOINTS: plain.endpoint.replace(/^http:\/\//, ''), RS_ETCD_TIMEOUT: '5s' });
    expect(plainBare.code, plainBare.stderr).toBe(0);
    expect(JSON.parse(plainBare.stdout)).toMatchObject({ tls: false });
  });

  it('says the server certificate is not signed by the configured CA, naming the variable and its file', async () => {
    const wrongCa = new RegExp(`server certificate is not signed by RS_ETCD_CA_CERT=${quoted(certs.otherCa)}$`, 'm');
    expectFailure(await backup(serverTls, { RS_ETCD_CA_CERT: certs.otherCa }), wrongCa);
    // The v2 API's HTTP client says it in the same words.
    expectFailure(await backup(serverTls, { RS_ETCD_CA_CERT: certs.otherCa, RS_ETCD_API_VERSION: 'v2' }), wrongCa);
  });

  it('says the same without RS_ETCD_CA_CERT (system CAs do not know a private CA)', async () => {
    expectFailure(await backup(serverTls, {}), /server certificate is not signed by .*(RS_ETCD_CA_CERT|system)/);
  });

  it('says the server certificate expired', async () => {
    expectFailure(await backup(expired, { RS_ETCD_CA_CERT: certs.ca }), /server certificate has expired/);
  });

  it('says etcd wants a client certificate when none is configured', async () => {
    expectFailure(await backup(mutual, { RS_ETCD_CA_CERT: certs.ca }), /requires a client certificate|rejected the client certificate/);
  });

  it('says the client certificate expired', async () => {
    expectFailure(
      await backup(mutual, { RS_ETCD_CA_CERT: certs.ca, RS_ETCD_CLIENT_CERT: certs.expiredClient.cert, RS_ETCD_CLIENT_KEY: certs.expiredClient.key }),
      new RegExp(`the client certificate RS_ETCD_CLIENT_CERT=${quoted(certs.expiredClient.cert)} expired`),
    );
  });

  it('says etcd rejected a client certificate signed by another CA', async () => {
    expectFailure(
      await backup(mutual, { RS_ETCD_CA_CERT: certs.ca, RS_ETCD_CLIENT_CERT: certs.otherClient.cert, RS_ETCD_CLIENT_KEY: certs.otherClient.key }),
      new RegExp(`etcd rejected the client certificate RS_ETCD_CLIENT_CERT=${quoted(certs.otherClient.cert)}: `),
    );
  });

  /**
   * k3s's server/tls folder at `tls`: its Kubernetes API certificates (of another CA than etcd's) and an etcd/ folder.
   * Returns the hint that names etcd's own folder.
   */
  async function k3sApiCertificates(tls: string): Promise<string> {
    await mkdir(join(tls, 'etcd'), { recursive: true });
    await copyFile(certs.otherCa, join(tls, 'server-ca.crt'));
    await copyFile(certs.otherClient.cert, join(tls, 'client-admin.crt'));
    await copyFile(certs.otherClient.key, join(tls, 'client-admin.key'));
    return `(a certificate of k3s's Kubernetes API: k3s's etcd has its own, in ${tls}/etcd/: server-ca.crt, client.crt, client.key)`;
  }

  // k3s keeps its Kubernetes certificates in .../server/tls/ and etcd's in .../server/tls/etcd/, under the same names
  // (server-ca.crt): one folder up is the likely mistake of a k3s operator. Before, the message ended at the file.
  it("names k3s's etcd folder when the CA or client certificate is one of k3s's Kubernetes API certificates", async () => {
    const tls = join(dir, 'var/lib/rancher/k3s/server/tls');
    const hint = await k3sApiCertificates(tls);
    const ca = await backup(mutual, { RS_ETCD_CA_CERT: join(tls, 'server-ca.crt'), RS_ETCD_CLIENT_CERT: certs.client.cert, RS_ETCD_CLIENT_KEY: certs.client.key });
    expectFailure(ca, new RegExp(`server certificate is not signed by RS_ETCD_CA_CERT=${quoted(join(tls, 'server-ca.crt'))} ${quoted(hint)}$`, 'm'));
    const client = await backup(mutual, { RS_ETCD_CA_CERT: certs.ca, RS_ETCD_CLIENT_CERT: join(tls, 'client-admin.crt'), RS_ETCD_CLIENT_KEY: join(tls, 'client-admin.key') });
    expectFailure(client, new RegExp(`etcd rejected the client certificate RS_ETCD_CLIENT_CERT=${quoted(join(tls, 'client-admin.crt'))}: .*${quoted(hint)}$`, 'm'));
  });

  // An operator cd'd into k3s's server folder gives the files relative to it, as etcdctl takes them. Before, the hint
  // matched only absolute paths: `RS_ETCD_CA_CERT=tls/server-ca.crt` ended at the file, naming no folder.
  it("names k3s's etcd folder for a relative path too, as the absolute folder it is", async () => {
    const server = join(dir, 'rel/var/lib/rancher/k3s/server');
    const tls = join(server, 'tls');
    const hint = await k3sApiCertificates(tls);
    const env = { RS_ETCD_ENDPOINTS: mutual.endpoint, RS_BACKUP_DIR: join(dir, 'store'), RS_ETCD_TIMEOUT: '5s' };
    const ca = await runCli(['backup'], { ...env, RS_ETCD_CA_CERT: 'tls/server-ca.crt', RS_ETCD_CLIENT_CERT: certs.client.cert, RS_ETCD_CLIENT_KEY: certs.client.key }, { cwd: server });
    expectFailure(ca, new RegExp(`server certificate is not signed by RS_ETCD_CA_CERT=tls/server-ca\\.crt ${quoted(hint)}$`, 'm'));
    const client = await runCli(['backup'], { ...env, RS_ETCD_CA_CERT: certs.ca, RS_ETCD_CLIENT_CERT: './client-admin.crt', RS_ETCD_CLIENT_KEY: 'client-admin.key' }, { cwd: tls });
    expectFailure(client, new RegExp(`etcd rejected the client certificate RS_ETCD_CLIENT_CERT=\\./client-admin\\.crt: .*${quoted(hint)}$`, 'm'));
  });

  it('says the client certificate and key do not belong together', async () => {
    expectFailure(
      await backup(mutual, { RS_ETCD_CA_CERT: certs.ca, RS_ETCD_CLIENT_CERT: certs.mismatched.cert, RS_ETCD_CLIENT_KEY: certs.mismatched.key }),
      new RegExp(`RS_ETCD_CLIENT_KEY=${quoted(certs.mismatched.key)} is not the key of RS_ETCD_CLIENT_CERT=${quoted(certs.mismatched.cert)}`),
    );
  });

  it('says the client certificate and key were given the wrong way round', async () => {
    const res = await backup(mutual, { RS_ETCD_CA_CERT: certs.ca, RS_ETCD_CLIENT_CERT: certs.client.key, RS_ETCD_CLIENT_KEY: certs.client.cert });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(
      `RS_ETCD_CLIENT_CERT was invalid: ${JSON.stringify(certs.client.key)} is not a PEM certificate: it holds a private key, and RS_ETCD_CLIENT_KEY a certificate (the two swapped?)`,
    );
  });

  it('says a plain-http etcd does not speak TLS', async () => {
    const res = await backup(plain, { RS_ETCD_ENDPOINTS: plain.endpoint.replace('http:', 'https:'), RS_ETCD_CA_CERT: certs.ca });
    expectFailure(res, /did not complete a TLS handshake: it serves plain http \(use an http:\/\/ endpoint\)/);
  });
  it('says at once that an http:// endpoint speaks TLS, and what to set', async () => {
    const started = Date.now();
    // The default RS_ETCD_TIMEOUT (30 s), which the retries of an unreachable endpoint would use up.
    const res = await backup(serverTls, { RS_ETCD_ENDPOINTS: serverTls.endpoint.replace('https:', 'http:'), RS_ETCD_TIMEOUT: '30s' });
    expectFailure(res, /failed at http:\/\/127\.0\.0\.1:(\d+): the endpoint speaks TLS, not plain http: use https:\/\/127\.0\.0\.1:\1 and set RS_ETCD_CA_CERT to etcd's CA$/m);
    expect(res.stderr).not.toMatch(/unreachable|RS_ETCD_CLIENT_CERT/);
    expect(Date.now() - started).toBeLessThan(10_000);
    // A mutual-TLS etcd asks for a client certificate: `explore` says that too.
    const explored = await runCli(['explore'], { RS_ETCD_ENDPOINTS: mutual.endpoint.replace('https:', 'http:'), RS_BACKUP_DIR: join(dir, 'store') });
    expectFailure(explored, /speaks TLS, not plain http: use https:\/\/\S+ and set RS_ETCD_CA_CERT to etcd's CA, and RS_ETCD_CLIENT_CERT and RS_ETCD_CLIENT_KEY \(it asks for a client certificate\)/);
  });

  // grpc-js sometimes sees these only as a reset connection (CI saw it for the plain-http case); the probe that then
  // asks the endpoint must tell them apart on its own.
  describe('probing an endpoint whose connection was reset', () => {
    const files = async (cert?: { cert: string; key: string }) => ({
      ca: await readFile(certs.ca),
      ...(cert && { cert: await readFile(cert.cert), key: await readFile(cert.key) }),
    });

    it('finds a plain-http etcd', async () => {
      expect(await probeTls(plain.endpoint.replace('http:', 'https:'), await files())).toEqual({ kind: 'plain-http' });
    });

    it('finds the alert of a mutual-TLS etcd given no client certificate', async () => {
      const found = await probeTls(mutual.endpoint, await files());
      expect(found?.kind).toBe('handshake-error');
      expect(found?.kind === 'handshake-error' && found.text).toMatch(/alert certificate required|alert bad certificate|handshake failure/i);
    });

    it('finds the alert of a mutual-TLS etcd given a certificate of another CA', async () => {
      const found = await probeTls(mutual.endpoint, await files(certs.otherClient));
      expect(found?.kind === 'handshake-error' && found.text).toMatch(/alert (unknown ca|bad certificate|certificate unknown)/i);
    });

    it('finds that an endpoint speaks TLS, and whether it wants a client certificate; a plain-http etcd does not', async () => {
      expect(await probeSpeaksTls(serverTls.endpoint.replace('https:', 'http:'))).toEqual({ clientCertificateRequired: false });
      expect(await probeSpeaksTls(mutual.endpoint.replace('https:', 'http:'))).toEqual({ clientCertificateRequired: true });
      expect(await probeSpeaksTls(plain.endpoint)).toBeUndefined();
    });

    it('finds nothing wrong with a good handshake, nor with an endpoint that only resets', async () => {
      expect(await probeTls(mutual.endpoint, await files(certs.client))).toBeUndefined();
      const resetter = createServer((socket) => socket.resetAndDestroy());
      await new Promise<void>((resolve) => resetter.listen(0, '127.0.0.1', resolve));
      try {
        expect(await probeTls(`https://127.0.0.1:${(resetter.address() as AddressInfo).port}`, await files())).toBeUndefined();
      } finally {
        resetter.close();
      }
    });
  });
});
