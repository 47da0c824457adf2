import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Etcd3 } from 'etcd3';
import type { Manifest } from '../../src/archive/manifest.js';
import { loadDataset } from '../../src/demo/load-dataset.js';
import { sampleDataset } from '../../src/demo/sample-data.js';
import { etcdTlsArgs, makeCerts, type TestCerts } from '../helpers/certs.js';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { keyspace, values } from '../helpers/keyspace.js';
import { startS3, type TestS3 } from '../helpers/s3.js';

const run = promisify(execFile);

/**
 * k3s restores etcd only from a plain snapshot file (`k3s server --cluster-reset --cluster-reset-restore-path=FILE`),
 * as `etcdctl snapshot save` writes it. `restore <id> --snapshot-file FILE` writes one from a backup in the store
 * (here an encrypted, compressed one in S3, of an etcd with client-certificate auth as k3s runs it).
 * Before: there was no such form (`--snapshot-file` was an unknown option, exit 2), only S3 tools, age and zstd by hand.
 */
let certs: TestCerts;
let source: TestEtcd;
let s3: TestS3;
let work: string;
let manifest: Manifest;

function env(): Record<string, string> {
  return {
    ...s3.env,
    RS_ETCD_ENDPOINTS: source.endpoint,
    RS_ETCD_CA_CERT: certs.ca,
    RS_ETCD_CLIENT_CERT: certs.client.cert,
    RS_ETCD_CLIENT_KEY: certs.client.key,
    RS_CLUSTER_NAME: 'k3s',
    RS_ENCRYPTION_PASSPHRASE: 'correct horse battery staple',
    RS_TMP_DIR: join(work, 'tmp'),
  };
}

beforeAll(async () => {
  certs = await makeCerts();
  const tls = { caFile: certs.ca, certFile: certs.client.cert, keyFile: certs.client.key };
  [source, s3] = await Promise.all([startEtcd({ scheme: 'https', args: etcdTlsArgs(certs, { clientCertAuth: true }), tls }), startS3()]);
  work = await mkdtemp(join(tmpdir(), 'rs-snapfile-out-'));
  await mkdir(join(work, 'tmp'));
  const client = new Etcd3({
    hosts: source.endpoint,
    credentials: { rootCertificate: readFileSync(certs.ca), certChain: readFileSync(certs.client.cert), privateKey: readFileSync(certs.client.key) },
  });
  try {
    await loadDataset(client, sampleDataset({ namespaces: 2, podsPerNamespace: 5, edgeCases: true }));
    // Helm release Secrets of ~1 MB each.
    for (let i = 1; i <= 3; i++) await client.put(`/registry/secrets/default/sh.helm.release.v1.app.v${i}`).value(randomBytes(1_000_000));
  } finally {
    client.close();
  }
  const res = await runCli(['backup', '--strategy', 'snapshot', '--json'], env());
  expect(res.code, res.stderr).toBe(0);
  manifest = JSON.parse(res.stdout) as Manifest;
  expect(manifest.encryption).toBe('age');
});

afterAll(async () => {
  await Promise.all([source?.stop(), s3?.stop(), work && rm(work, { recursive: true, force: true })]);
  await certs?.remove();
});

describe('restore --snapshot-file', () => {
  it('writes the plain snapshot file that etcdctl snapshot restore takes, and etcd starts from it with every key', async () => {
    const file = join(work, 'on-demand-node1-restored');
    const res = await runCli(['restore', 'latest', '--snapshot-file', file], env());
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain(`wrote snapshot ${manifest.id} (revision ${manifest.etcd!.revision}) to ${file}`);
    expect(res.stdout).toContain(`next: k3s server --cluster-reset --cluster-reset-restore-path=${file} (k3s), or `);
    // The tool named is one installed here (Debian's etcd 3.4 has etcdctl, no etcdutl): it restores the file.
    const tool = /, or (etcdutl|etcdctl) snapshot restore /.exec(res.stdout)?.[1];
    await run('which', [tool ?? 'none']);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(file)).size).toBe(manifest.rawSizeBytes);
    expect(await readdir(join(work, 'tmp'))).toEqual([]);
    const status = JSON.parse((await run('etcdctl', ['snapshot', 'status', file, '-w', 'json'], { env: { ...process.env, ETCDCTL_API: '3' } })).stdout) as { revision: number };
    expect(status.revision).toBe(manifest.etcd!.revision);
    // etcdctl checks the sha256 trailer: a file without it, or not matching, fails unless --skip-hash-check.
    const dataDir = join(work, 'restored');
    const member = ['--name', 'test', '--initial-cluster', 'test=http://127.0.0.1:2380', '--initial-advertise-peer-urls', 'http://127.0.0.1:2380'];
    await run('etcdctl', ['snapshot', 'restore', file, '--data-dir', dataDir, ...member], { env: { ...process.env, ETCDCTL_API: '3' } });
    const restored = await startEtcd({ dataDir });
    try {
      expect(values(await keyspace(restored))).toEqual(values(await keyspace(source)));
    } finally {
      await restored.stop();
    }
  });

  it('refuses a file that exists and a folder that does not, before reading the store, and writes nothing', async () => {
    const existing = join(work, 'existing');
    await writeFile(existing, 'keep me');
    const taken = await runCli(['restore', 'latest', '--snapshot-file', existing], env());
    expect(taken.code).toBe(2);
    expect(taken.stderr).toContain(`--snapshot-file: ${existing} exists already; name a new file (it is never overwritten)`);
    expect(await readFile(existing, 'utf8')).toBe('keep me');
    // k3s's snapshots folder given as it is: the file to name is said.
    const folder = await runCli(['restore', 'latest', '--snapshot-file', `${work}/`], env());
    expect(folder.code).toBe(2);
    expect(folder.stderr).toContain(`--snapshot-file: ${work} is a folder; name a new file in it, such as ${join(work, `reshifter-${manifest.id}.db`)}`);
    const missing = await runCli(['restore', 'latest', '--snapshot-file', join(work, 'no-such-folder', 'snap.db')], env());
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`the folder ${join(work, 'no-such-folder')} does not exist`);
    const point = await runCli(['restore', 'latest', '--snapshot-file', join(work, 'point.db'), '--to', 'latest'], env());
    expect(point.code).toBe(2);
    expect(point.stderr).toContain('--snapshot-file writes a snapshot backup as it was taken');
    expect((await readdir(work)).filter((f) => f.includes('point') || f.startsWith('.'))).toEqual([]);
  });

  // Before: a cluster whose backups are all key dumps was told "`restore --data-dir` and `restore --keys` restore
  // snapshots": not the form the operator had typed, who was left to wonder whether --snapshot-file reads dumps.
  it('latest of a cluster with no snapshot backup names --snapshot-file among the forms that restore snapshots', async () => {
    const dumps = { ...env(), RS_CLUSTER_NAME: 'k3s-dumps' };
    const made = await runCli(['backup', '--strategy', 'raw'], dumps);
    expect(made.code, made.stderr).toBe(0);
    const res = await runCli(['restore', 'latest', '--snapshot-file', join(work, 'from-dumps.db')], dumps);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/no snapshot backup of cluster "k3s-dumps" .*the newest backup is a key dump \(raw\).*`restore --data-dir`, `--snapshot-file` and `--keys` restore snapshots/);
    expect((await readdir(work)).filter((f) => f.includes('from-dumps'))).toEqual([]);
  });
});
