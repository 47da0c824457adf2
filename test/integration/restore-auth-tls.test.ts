import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Etcd3 } from 'etcd3';
import { loadDataset } from '../../src/demo/load-dataset.js';
import { sampleDataset } from '../../src/demo/sample-data.js';
import { makeCerts, etcdTlsArgs, type TestCerts } from '../helpers/certs.js';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { keyspace, values } from '../helpers/keyspace.js';

const PASSWORD = 'Pw-restore-5d1e-never-print-me';
const PREFIXES = ['/registry', '/kubernetes.io', '/openshift.io'];

/**
 * A key restore into an etcd that wants both a client certificate (mutual TLS) and a user (auth enabled): the
 * transactions that write the keys are encoded by hand and sent through etcd3's connection pool (etcd/raw-txn.ts), and
 * must carry its TLS and auth token as etcd3's own calls do, and fail as they do.
 */
describe('key restore into etcd with mutual TLS and authentication', () => {
  let certs: TestCerts;
  let source: TestEtcd;
  let target: TestEtcd;
  let dir: string;
  let expected: Map<string, string>;
  const root = { ETCDCTL_USER: `root:${PASSWORD}` };

  beforeAll(async () => {
    certs = await makeCerts();
    dir = await mkdtemp(join(tmpdir(), 'rs-restore-auth-'));
    [source, target] = await Promise.all([
      startEtcd(),
      startEtcd({ scheme: 'https', args: etcdTlsArgs(certs, { clientCertAuth: true }), tls: { caFile: certs.ca, certFile: certs.client.cert, keyFile: certs.client.key } }),
    ]);
    const client = new Etcd3({ hosts: source.endpoint });
    await loadDataset(client, [...sampleDataset({ namespaces: 3, podsPerNamespace: 40, edgeCases: true })]);
    client.close();
    expected = values(await keyspace(source, PREFIXES));
    const backup = await runCli(['backup'], { RS_ETCD_ENDPOINTS: source.endpoint, RS_BACKUP_DIR: join(dir, 'store'), RS_BACKUP_STRATEGY: 'raw' });
    expect(backup.code).toBe(0);
    await target.ctl(['user', 'add', `root:${PASSWORD}`]);
    await target.ctl(['auth', 'enable']);
    // A user that may read every key but write none.
    await target.ctl(['role', 'add', 'reader'], root);
    await target.ctl(['role', 'grant-permission', 'reader', '--prefix=true', 'read', ''], root);
    await target.ctl(['user', 'add', `reader:${PASSWORD}`], root);
    await target.ctl(['user', 'grant-role', 'reader', 'reader'], root);
    // A user as an etcd with RBAC gives kube-apiserver: read and write under the Kubernetes prefixes, nothing else.
    await target.ctl(['role', 'add', 'kube'], root);
    for (const p of PREFIXES) await target.ctl(['role', 'grant-permission', 'kube', '--prefix=true', 'readwrite', `${p}/`], root);
    await target.ctl(['user', 'add', `kube:${PASSWORD}`], root);
    await target.ctl(['user', 'grant-role', 'kube', 'kube'], root);
  });
  afterAll(async () => {
    await Promise.all([source?.stop(), target?.stop()]);
    await certs?.remove();
    await rm(dir, { recursive: true, force: true });
  });

  const restore = (user: string, args: string[] = []) =>
    runCli(['restore', 'latest', ...args], {
      RS_ETCD_ENDPOINTS: target.endpoint,
      RS_BACKUP_DIR: join(dir, 'store'),
      RS_ETCD_TIMEOUT: '10s',
      RS_ETCD_CA_CERT: certs.ca,
      RS_ETCD_CLIENT_CERT: certs.client.cert,
      RS_ETCD_CLIENT_KEY: certs.client.key,
      RS_ETCD_USERNAME: user,
      RS_ETCD_PASSWORD: PASSWORD,
    });
  const targetKeys = async () => {
    const text = (await target.ctl(['get', '', '--from-key', '-w', 'json'], root)).replace(/"lease":(\d+)/g, '"lease":"$1"');
    const kvs = (JSON.parse(text) as { kvs?: Array<{ key: string; value?: string; lease?: string }> }).kvs ?? [];
    return new Map(kvs.filter((kv) => PREFIXES.some((p) => Buffer.from(kv.key, 'base64').toString('latin1').startsWith(`${p}/`))).map((kv) => [kv.key, kv]));
  };

  it('says a user that may not write is denied, and writes nothing', async () => {
    const res = await restore('reader');
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/writing restored keys failed at \S+: the etcd user lacks permission/);
    // What a restore needs, not what a backup does.
    expect(res.stderr).toMatch(/a key restore needs read and write access to the keys it restores/);
    expect(res.stderr).not.toMatch(/snapshots need the root role/);
    expect(res.stderr).toMatch(/before writing any key: etcd was not changed/);
    expect(res.stderr).not.toMatch(/\n\s+at |this is a bug/);
    expect(res.stdout + res.stderr).not.toContain(PASSWORD);
    expect((await targetKeys()).size).toBe(0);
  });

  it('restores every key as root, leased keys on fresh leases; a second run finds them all in place', async () => {
    const res = await restore('root');
    expect(res.stderr).not.toMatch(/error/i);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain(`restored ${expected.size} keys into ${target.endpoint}`);
    const got = await targetKeys();
    expect(new Map([...got].map(([k, kv]) => [k, kv.value ?? '']))).toEqual(expected);
    const leased = [...got].filter(([k]) => Buffer.from(k, 'base64').toString().startsWith('/registry/events/'));
    expect(leased.length).toBeGreaterThan(0);
    for (const [, kv] of leased) expect(kv.lease).not.toBe('0');

    // Every key exists now: the "create if absent" transactions do not succeed, and nothing is written.
    const again = await restore('root', ['--json']);
    expect(again.code).toBe(0);
    const report = JSON.parse(again.stdout) as { written: number; totals: { unchanged: number } };
    expect(report).toMatchObject({ written: 0, totals: { unchanged: expected.size } });
  });

  it('restores as a user whose role covers only the prefixes it writes (readwrite --prefix /registry/ ...)', async () => {
    // Before: the revision read before the first write asked for the key "\0", outside the role: refused, nothing restored.
    await target.ctl(['del', '--prefix', '/registry/pods/'], root);
    const res = await restore('kube');
    expect(res.stderr).not.toMatch(/lacks permission/);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/restored [1-9]\d* keys into /);
    expect(new Map([...(await targetKeys())].map(([k, kv]) => [k, kv.value ?? '']))).toEqual(expected);
  });

  it("without a user name, says that etcd took the client certificate's CN as the user, which it does not know", async () => {
    // Before: 'the etcd user lacks permission for this (...)' and, for a snapshot, etcd's bare 'auth: user not found':
    // no word of the user etcd took, nor of the certificate it came from.
    const res = await runCli(['restore', 'latest', '--dry-run'], {
      RS_ETCD_ENDPOINTS: target.endpoint,
      RS_BACKUP_DIR: join(dir, 'store'),
      RS_ETCD_TIMEOUT: '10s',
      ETCDCTL_CACERT: certs.ca,
      ETCDCTL_CERT: certs.client.cert,
      ETCDCTL_KEY: certs.client.key,
    });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`with no RS_ETCD_USERNAME set, etcd takes the common name (CN) of ETCDCTL_CERT=${certs.client.cert} as the user`);
    const snapshot = await runCli(['backup'], { RS_ETCD_ENDPOINTS: target.endpoint, RS_BACKUP_DIR: join(dir, 'snap'), RS_ETCD_TIMEOUT: '10s', RS_ETCD_CA_CERT: certs.ca, RS_ETCD_CLIENT_CERT: certs.client.cert, RS_ETCD_CLIENT_KEY: certs.client.key });
    expect(snapshot.code).toBe(1);
    expect(snapshot.stderr).toContain(`etcd knows no user named as the common name (CN) of RS_ETCD_CLIENT_CERT=${certs.client.cert}, which it takes as the user when RS_ETCD_USERNAME is not set`);
  });
});
