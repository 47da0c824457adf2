import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Etcd3 } from 'etcd3';
import type { Manifest } from '../../src/archive/manifest.js';
import { loadDataset } from '../../src/demo/load-dataset.js';
import { sampleDataset } from '../../src/demo/sample-data.js';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { runInProcess } from '../helpers/in-process.js';
import { keyspace, values } from '../helpers/keyspace.js';
import { freePort } from '../helpers/ports.js';
import { startS3, type TestS3 } from '../helpers/s3.js';

const run = promisify(execFile);

/** Disaster recovery from a snapshot in S3: `restore <id> --data-dir DIR`, then etcd started on that directory. */
let source: TestEtcd;
let s3: TestS3;
let work: string;
let manifest: Manifest;

beforeAll(async () => {
  [source, s3] = await Promise.all([startEtcd(), startS3()]);
  work = await mkdtemp(join(tmpdir(), 'rs-snaprestore-'));
  const client = new Etcd3({ hosts: source.endpoint });
  await loadDataset(client, sampleDataset({ namespaces: 2, podsPerNamespace: 3, edgeCases: true }));
  client.close();
  const res = await runCli(['backup', '--json'], env());
  expect(res.code).toBe(0);
  manifest = JSON.parse(res.stdout) as Manifest;
  expect(manifest.contentType).toBe('etcd-snapshot');
});

afterAll(async () => {
  await Promise.all([source?.stop(), s3?.stop(), work && rm(work, { recursive: true, force: true })]);
});

function env(extra: Record<string, string> = {}): Record<string, string> {
  return { RS_ETCD_ENDPOINTS: source.endpoint, RS_CLUSTER_NAME: 'dr', ...s3.env, ...extra };
}

describe('snapshot restore', () => {
  it('writes a data directory that etcd starts from with every key', async () => {
    const dataDir = join(work, 'member-a');
    const res = await runCli(['restore', manifest.id, '--data-dir', dataDir, '--name', 'test', '--initial-cluster', 'test=http://127.0.0.1:2380', '--initial-advertise-peer-urls', 'http://127.0.0.1:2380'], env());
    expect(res.stderr).not.toMatch(/error/i);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain(`restored snapshot ${manifest.id} (revision ${manifest.etcd!.revision}) into ${dataDir} with etcd`);
    expect(res.stdout).toContain(`next: etcd --data-dir ${dataDir} --name test --initial-cluster test=http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 (the member as restored here`);
    const restored = await startEtcd({ dataDir });
    try {
      expect(values(await keyspace(restored))).toEqual(values(await keyspace(source)));
    } finally {
      await restored.stop();
    }
  });

  it('says the etcd command that starts the member as restored, with every member flag given, and etcd starts from it', async () => {
    // Before: the "next:" line left out --initial-advertise-peer-urls and --initial-cluster-token.
    const dataDir = join(work, 'member-next');
    const [peer, client] = [await freePort(), await freePort()];
    const peerUrl = `http://127.0.0.1:${peer}`;
    const member = ['--name', 'm1', '--initial-cluster', `m1=${peerUrl}`, '--initial-advertise-peer-urls', peerUrl, '--initial-cluster-token', 'dr-token-1'];
    const res = await runInProcess(['restore', manifest.id, '--data-dir', dataDir, ...member], env());
    expect(res.code, res.stderr).toBe(0);
    const next = /^next: (etcd .*?) \(/m.exec(res.stdout)?.[1];
    expect(next).toBe(`etcd --data-dir ${dataDir} ${member.join(' ')}`);
    // The printed command, with the listen URLs a member has anyway.
    const endpoint = `http://127.0.0.1:${client}`;
    const listen = ['--listen-peer-urls', peerUrl, '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint];
    const etcd = spawn('etcd', [...next!.split(' ').slice(1), ...listen, '--log-level', 'error', '--logger', 'zap'], { stdio: 'ignore' });
    try {
      const ctl = (args: string[]) => run('etcdctl', ['--endpoints', endpoint, ...args], { env: { ...process.env, ETCDCTL_API: '3' } });
      for (let i = 0; ; i++) {
        const up = await ctl(['endpoint', 'health']).then(() => true, () => false);
        if (up) break;
        if (i > 100 || etcd.exitCode !== null) throw new Error(`etcd did not start from: ${next}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const members = JSON.parse((await ctl(['member', 'list', '-w', 'json'])).stdout) as { members: Array<{ name: string; peerURLs: string[] }> };
      expect(members.members.map((m) => [m.name, m.peerURLs])).toEqual([['m1', [peerUrl]]]);
      const restored = new Etcd3({ hosts: endpoint });
      try {
        expect((await restored.getAll().keys()).length).toBe((await keyspace(source)).size);
      } finally {
        restored.close();
      }
    } finally {
      etcd.kill('SIGKILL');
    }
  });

  it('refuses a data directory that holds something, and asks for one when missing', async () => {
    const dataDir = join(work, 'busy');
    await mkdir(dataDir);
    await writeFile(join(dataDir, 'file'), 'x');
    const busy = await runInProcess(['restore', manifest.id, '--data-dir', dataDir], env());
    expect(busy.code).toBe(2);
    expect(busy.stderr).toMatch(/--data-dir ".*busy" exists and is not empty/);
    const missing = await runInProcess(['restore', manifest.id], env());
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/is an etcd snapshot: restore it into a new data directory with --data-dir DIR .*, or its keys into the running etcd at RS_ETCD_ENDPOINTS with --keys/);
    // Without --name: the member etcdctl makes, said as such.
    const plain = await runInProcess(['restore', manifest.id, '--data-dir', join(work, 'plain')], env());
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).toContain(`next: etcd --data-dir ${join(work, 'plain')} (a single member named "default"`);
    const wrong = await runInProcess(['restore', manifest.id, '--dry-run', '--data-dir', join(work, 'x')], env());
    expect(wrong.code).toBe(2);
    // One flag: 'applies' (before: '--dry-run apply to key dumps').
    expect(wrong.stderr).toMatch(/--dry-run applies to key dumps/);
    const raw = await runInProcess(['backup', '--json', '--strategy', 'raw'], env({ RS_CLUSTER_NAME: 'dr-raw' }));
    expect(raw.code, raw.stderr).toBe(0);
    const rawId = (JSON.parse(raw.stdout) as Manifest).id;
    const dump = await runInProcess(['restore', rawId, '--data-dir', join(work, 'y')], env({ RS_CLUSTER_NAME: 'dr-raw' }));
    expect(dump.code).toBe(2);
    expect(dump.stderr).toContain(`--data-dir applies to snapshots; backup ${rawId} is a key dump (raw), restored into the etcd at RS_ETCD_ENDPOINTS`);
    const two = await runInProcess(['restore', rawId, '--data-dir', join(work, 'y'), '--name', 'm1'], env({ RS_CLUSTER_NAME: 'dr-raw' }));
    expect(two.stderr).toMatch(/--data-dir, --name apply to snapshots|--name, --data-dir apply to snapshots/);
  });

  it('member flags etcd would refuse fail at once (exit 2), before the backup is downloaded', async () => {
    for (const [flags, problem] of [
      [['--name', 'm2', '--initial-cluster', 'm1=http://127.0.0.1:2380', '--initial-advertise-peer-urls', 'http://127.0.0.1:2380'], '--name m2, and --initial-cluster names m1: give'],
      [['--name', 'm1'], '--name m1, and --initial-cluster is not given (etcd takes default=http://localhost:2380)'],
      [['--name', 'm1', '--initial-cluster', 'm1=127.0.0.1:2380'], '--initial-cluster has "m1=127.0.0.1:2380", which is not name=URL'],
      [['--name', 'm1', '--initial-cluster', 'm1=http://127.0.0.1:2380'], 'but --initial-cluster gives member m1 http://127.0.0.1:2380: give --initial-advertise-peer-urls http://127.0.0.1:2380'],
      // Before: a space after a comma was trimmed here, but etcd keeps it (member " m2"), and one URL given to two
      // members passed too: etcdctl refused both only once the backup was downloaded (exit 1).
      [
        ['--name', 'm2', '--initial-cluster', 'm1=http://127.0.0.1:2380, m2=http://127.0.0.2:2380', '--initial-advertise-peer-urls', 'http://127.0.0.2:2380'],
        '--initial-cluster has " m2=http://127.0.0.2:2380", with a space etcd would keep (it reads the list as it is: a member name with a space in it): give --initial-cluster m1=http://127.0.0.1:2380,m2=http://127.0.0.2:2380',
      ],
      [
        ['--name', 'm1', '--initial-cluster', 'm1=http://127.0.0.1:2380,m2=http://127.0.0.1:2380', '--initial-advertise-peer-urls', 'http://127.0.0.1:2380'],
        '--initial-cluster gives http://127.0.0.1:2380 to both m1 and m2: each member needs its own peer URL',
      ],
    ] as const) {
      const dataDir = join(work, 'flags');
      const res = await runInProcess(['restore', manifest.id, '--data-dir', dataDir, ...flags], { ...env(), LOG_LEVEL: 'info' });
      expect(res.code, res.stderr).toBe(2);
      expect(res.stderr).toContain(problem);
      expect(res.stderr).not.toContain('downloaded');
      await expect(readdir(dataDir)).rejects.toThrow(/ENOENT/);
    }
  });

  it('restores into an empty volume mounted at the data directory, which no rename can replace', async (t) => {
    const dataDir = join(work, 'volume');
    await mkdir(dataDir);
    // A mount point of its own, as a dedicated disk or a pod's volume at /var/lib/etcd is (root only: else skipped).
    if (!(await run('mount', ['--bind', dataDir, dataDir]).then(() => true, () => false))) return t.skip();
    try {
      const res = await runInProcess(['restore', manifest.id, '--data-dir', dataDir], env());
      // Before: the empty folder was removed first, which a mount point refuses: 'unexpected error (this is a bug): EBUSY'.
      expect(res.code, res.stderr).toBe(0);
      expect(await readdir(dataDir)).toEqual(['member']);
      const restored = await startEtcd({ dataDir });
      try {
        expect(values(await keyspace(restored))).toEqual(values(await keyspace(source)));
      } finally {
        await restored.stop();
      }
    } finally {
      await run('umount', [dataDir]);
    }
  });

  it('says what to install when neither etcdutl nor etcdctl is there', async () => {
    const emptyPath = join(work, 'no-tools');
    await mkdir(emptyPath, { recursive: true });
    const res = await runCli(['restore', manifest.id, '--data-dir', join(work, 'member-b')], { ...env(), PATH: emptyPath });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/restoring a snapshot needs etcdutl \(etcd 3.5\+\) or etcdctl 3.4\/3.5 on PATH, and neither was found/);
  });
});
