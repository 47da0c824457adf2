import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { etcdTlsArgs, makeCerts, type TestCerts } from '../helpers/certs.js';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';

/**
 * One endpoint of several whose certificate is refused (it does not name the address used, or another CA signed it)
 * while the others are fine: etcdctl's balancer leaves it and reads from the others. reshifter did not: every call
 * that the pool sent there failed the whole operation, so a key dump (many pages) or explore failed nearly every time,
 * naming all endpoints rather than the one at fault. The same etcd is reached at 127.0.0.2, which its certificate
 * (127.0.0.1, localhost) does not name: a member whose SAN lacks the address it is dialled at.
 */
describe('one endpoint whose TLS certificate is refused', () => {
  let certs: TestCerts;
  let etcd: TestEtcd;
  let other: Server;
  let bad: string;
  let dir: string;
  const sockets = new Set<Socket>();

  beforeAll(async () => {
    certs = await makeCerts();
    dir = await mkdtemp(join(tmpdir(), 'rs-tls-one-'));
    etcd = await startEtcd({
      scheme: 'https',
      args: etcdTlsArgs(certs, { clientCertAuth: true }),
      tls: { caFile: certs.ca, certFile: certs.client.cert, keyFile: certs.client.key },
    });
    for (let i = 0; i < 300; i++) await etcd.ctl(['put', `/registry/configmaps/default/c-${i}`, 'x'.repeat(2000)]).catch(() => undefined);
    const port = Number(new URL(etcd.endpoint).port);
    other = createServer((s) => {
      sockets.add(s);
      const up = connect(port, '127.0.0.1');
      s.pipe(up).pipe(s);
      s.on('error', () => up.destroy()).on('close', () => sockets.delete(s));
      up.on('error', () => s.destroy());
    });
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.2', resolve));
    bad = `https://127.0.0.2:${(other.address() as { port: number }).port}`;
  }, 120_000);
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => (other ? other.close(() => resolve()) : resolve()));
    await etcd?.stop();
    await certs?.remove();
    await rm(dir, { recursive: true, force: true });
  });

  const env = (endpoints: string) => ({
    RS_ETCD_ENDPOINTS: endpoints,
    RS_ETCD_CA_CERT: certs.ca,
    RS_ETCD_CLIENT_CERT: certs.client.cert,
    RS_ETCD_CLIENT_KEY: certs.client.key,
    RS_BACKUP_DIR: join(dir, 'store'),
    RS_ETCD_TIMEOUT: '10s',
    RS_KUBE_PREFIXES: '/registry',
  });

  it('key dumps and explore go on with the endpoints that pass, and name the one passed over', async () => {
    const both = env(`${bad},${etcd.endpoint}`);
    for (let run = 0; run < 3; run++) {
      const res = await runCli(['backup', '--strategy', 'raw', '--json'], both);
      expect(res.code, res.stderr).toBe(0);
      expect((JSON.parse(res.stdout) as { keys: number }).keys).toBe(300);
    }
    const explore = await runCli(['explore'], both);
    expect(explore.code, explore.stderr).toBe(0);
    expect(explore.stdout).toContain(`${bad} (not answering)`);
    expect(explore.stdout).toContain(`  ${bad}: asking for its status failed at ${bad}: etcd's server certificate does not name this endpoint's host`);
  }, 120_000);

  it('the endpoint alone still fails at once, named', async () => {
    const res = await runCli(['backup', '--strategy', 'raw'], env(bad));
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`failed at ${bad}: etcd's server certificate does not name this endpoint's host`);
  }, 60_000);

  it('a call that reaches it first warns once, naming it', async () => {
    // The pool picks an endpoint at random: over a few runs, some call goes there first.
    let warned = '';
    for (let run = 0; run < 6 && warned === ''; run++) {
      const res = await runCli(['backup', '--strategy', 'raw'], env(`${bad},${etcd.endpoint}`));
      expect(res.code, res.stderr).toBe(0);
      warned = res.stderr.split('\n').find((l) => l.includes('passing over')) ?? '';
    }
    expect(warned).toContain(`passing over ${bad}, whose TLS handshake failed: the TLS handshake failed at ${bad}: etcd's server certificate does not name this endpoint's host`);
  }, 120_000);
});
