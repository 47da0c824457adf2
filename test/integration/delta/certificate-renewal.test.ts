import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { validateChain } from '../../../src/core/delta-chain.js';
import { isDeltaManifest, type Manifest } from '../../../src/archive/manifest.js';
import { BackupRepository } from '../../../src/store/backup-repository.js';
import { LocalStore } from '../../../src/store/local-store.js';
import { startRun, killStarted } from '../../helpers/background-run.js';
import { makeCerts, type CertPair, type TestCerts } from '../../helpers/certs.js';
import { segmentsOf } from '../../helpers/delta-history.js';
import { startRestartableEtcd, type RestartableEtcd } from '../../helpers/etcd-restartable.js';

/**
 * A `run` that records changes for months outlives its etcd client certificate: kubeadm's `certs renew` (or
 * cert-manager, or a Secret's `..data` swap) rewrites the files in place, the old certificate expires or its CA is
 * replaced, and etcd is restarted. Found by an operator pass: the watch kept the certificate it read at start and
 * was refused by etcd on every reconnection (`etcd rejected the client certificate ...`) until run was restarted,
 * while the scheduled backups, which read the files anew, went on; changes were recorded by nobody.
 */
let certs: TestCerts;
let work: string;
let etcd: RestartableEtcd;
/** The client certificate etcd accepts now (what the test's own client and etcd's readiness check use). */
let accepted: CertPair;
/** The CA of etcd's server certificate now. */
let serverCa: string;

const tlsArgs = (trustedCa: string, server?: CertPair) => {
  const pair = server ?? certs.server;
  return ['--cert-file', pair.cert, '--key-file', pair.key, '--client-cert-auth', '--trusted-ca-file', trustedCa];
};

async function healthy(endpoint: string): Promise<boolean> {
  const [ca, cert, key] = await Promise.all([readFile(serverCa), readFile(accepted.cert), readFile(accepted.key)]);
  return new Promise((resolve) => {
    const req = request(`${endpoint}/health`, { ca, cert, key, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

async function put(key: string): Promise<number> {
  const [ca, cert, key_] = await Promise.all([readFile(serverCa), readFile(accepted.cert), readFile(accepted.key)]);
  const client = new Etcd3({ hosts: etcd.endpoint.replace('https://', ''), credentials: { rootCertificate: ca, certChain: cert, privateKey: key_ } });
  try {
    return Number((await client.put(key).value('v').exec()).header.revision);
  } finally {
    client.close();
  }
}

beforeAll(async () => {
  certs = await makeCerts();
  accepted = certs.client;
  serverCa = certs.ca;
  work = await mkdtemp(join(tmpdir(), 'rs-cert-renewal-'));
  etcd = await startRestartableEtcd(tlsArgs(certs.ca), { https: { up: healthy } });
});
afterAll(async () => {
  killStarted();
  await etcd?.stop();
  await certs?.remove();
  await rm(work, { recursive: true, force: true });
});

async function coveredBy(repo: BackupRepository, revision: number, ms: number): Promise<Manifest[]> {
  const end = Date.now() + ms;
  for (;;) {
    const backups = (await repo.list()).backups;
    if (backups.some((m) => isDeltaManifest(m) && m.toRevision >= revision)) return backups;
    if (Date.now() > end) throw new Error(`no delta segment covers revision ${revision}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * `run` with continuous backups into the folder `name`, its etcd TLS files copies in a folder of their own (to be
 * renewed in place): that folder, the store's repository and the run, once it watches etcd.
 */
async function runWithOwnPki(name: string, ca: string, client: CertPair) {
  const pki = join(work, `pki${name}`);
  await rm(pki, { recursive: true, force: true });
  await mkdir(pki, { recursive: true });
  await copyFile(ca, join(pki, 'ca.crt'));
  await copyFile(client.cert, join(pki, 'client.crt'));
  await copyFile(client.key, join(pki, 'client.key'));
  const store = join(work, `store${name}`);
  const run = startRun({
    RS_ETCD_ENDPOINTS: etcd.endpoint,
    RS_ETCD_CA_CERT: join(pki, 'ca.crt'),
    RS_ETCD_CLIENT_CERT: join(pki, 'client.crt'),
    RS_ETCD_CLIENT_KEY: join(pki, 'client.key'),
    RS_BACKUP_DIR: store,
    RS_HTTP_PORT: '0',
    RS_DELTA_INTERVAL: '1s',
  });
  await run.until(/"msg":"watching etcd for changes"/);
  return { pki, repo: new BackupRepository(new LocalStore(store), 'default'), run };
}

it('the watch of continuous backups takes client certificate files renewed in place (their CA replaced) when etcd restarts', async () => {
  const { pki, repo, run } = await runWithOwnPki('', certs.ca, certs.client);
  await coveredBy(repo, await put('/registry/configmaps/ns/before'), 30_000);

  // The renewal: new files written over the old ones, from another CA, and etcd restarted to trust only that CA.
  await writeFile(join(pki, 'client.crt'), await readFile(certs.otherClient.cert));
  await writeFile(join(pki, 'client.key'), await readFile(certs.otherClient.key));
  accepted = certs.otherClient;
  await etcd.kill();
  await etcd.start(tlsArgs(certs.otherCa));
  const after = await put('/registry/configmaps/ns/after');
  const backups = await coveredBy(repo, after, 30_000);
  expect(run.log()).toMatch(/"msg":"etcd TLS files changed: new connections to etcd use them"/);

  run.child().kill('SIGTERM');
  const res = await run.done;
  expect(res.code, res.stderr).toBe(0);
  // One chain, without a gap across the renewal: no change was lost and no full backup was needed.
  const bases = backups.filter((m) => !isDeltaManifest(m));
  expect(bases).toHaveLength(1);
  const base = bases[0]!;
  const chain = validateChain({ id: base.id, createdAt: base.createdAt, revision: base.etcd!.revision }, segmentsOf(backups, base.id));
  expect(chain.problems).toEqual([]);
  expect(chain.coveredTo).toBeGreaterThanOrEqual(after);
}, 120_000);

it("the watch takes a CA file renewed in place when etcd's server certificate moves to a new CA (the client's unchanged)", async () => {
  // Only RS_ETCD_CA_CERT changes: a watch that looked at the client certificate and key alone kept trusting the old CA.
  // From a known state, whichever test ran before: the server's certificate of `ca`, clients of `otherCa`.
  accepted = certs.otherClient;
  serverCa = certs.ca;
  await etcd.kill();
  await etcd.start(tlsArgs(certs.otherCa));
  const { pki, repo, run } = await runWithOwnPki('-ca', certs.ca, accepted);
  await coveredBy(repo, await put('/registry/configmaps/ns/before-ca'), 30_000);

  await writeFile(join(pki, 'ca.crt'), await readFile(certs.otherCa));
  serverCa = certs.otherCa;
  await etcd.kill();
  await etcd.start(tlsArgs(certs.otherCa, certs.otherServer));
  const after = await put('/registry/configmaps/ns/after-ca');
  const backups = await coveredBy(repo, after, 30_000);
  expect(run.log()).toMatch(/"msg":"etcd TLS files changed: new connections to etcd use them"/);
  run.child().kill('SIGTERM');
  const res = await run.done;
  expect(res.code, res.stderr).toBe(0);
  expect(backups.filter((m) => !isDeltaManifest(m))).toHaveLength(1);
}, 120_000);
