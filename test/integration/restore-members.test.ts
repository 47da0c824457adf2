import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { startEtcdCluster, type TestCluster } from '../helpers/etcd-cluster.js';

/**
 * An operator drill: a snapshot of a three-member cluster restored with `--data-dir` and no member flags became a
 * single member named "default", silently; once per member that is three clusters of one. The manifest now records
 * the members, and such a restore says so, naming them and the flags for each.
 */
let cluster: TestCluster;
let lone: TestEtcd;
let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rs-restore-members-'));
  [cluster, lone] = await Promise.all([startEtcdCluster(3), startEtcd()]);
}, 120_000);

afterAll(async () => {
  await Promise.all([cluster?.stop(), lone?.stop()]);
  await rm(work, { recursive: true, force: true });
});

const env = (endpoints: string[], store: string) => ({
  RS_ETCD_ENDPOINTS: endpoints.join(','),
  RS_BACKUP_DIR: join(work, store),
  RS_BACKUP_STRATEGY: 'snapshot',
  RS_COMPRESSION: 'none',
});

const WARNING = 'a snapshot of several members is restored as a single member';

describe('a snapshot of a three-member cluster', () => {
  let manifest: Manifest;
  let peers: string[];

  beforeAll(async () => {
    const res = await runCli(['backup', '--json'], env(cluster.endpoints, 'three'));
    expect(res.code, res.stderr).toBe(0);
    manifest = JSON.parse(res.stdout) as Manifest;
  }, 60_000);

  it('records the three members with their peer URLs in its manifest', () => {
    const members = manifest.etcd!.members!;
    expect(members.map((m) => m.name).sort()).toEqual(['m0', 'm1', 'm2']);
    for (const m of members) expect(m.peerURLs).toEqual([expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/)]);
    peers = members.map((m) => m.peerURLs[0]!);
  });

  it('restored with --data-dir alone: a warning that names the members and the flags for each, and the restore is made', async () => {
    const dataDir = join(work, 'no-flags');
    const res = await runCli(['restore', 'latest', '--data-dir', dataDir], env(cluster.endpoints, 'three'));
    expect(res.code, res.stderr).toBe(0);
    const warned = res.stderr.split('\n').filter((l) => l.includes(WARNING)).map((l) => JSON.parse(l) as { level: string; sourceMembers: string[]; fix: string });
    expect(warned).toHaveLength(1);
    expect(warned[0]!.level).toBe('warn');
    expect(warned[0]!.sourceMembers.sort()).toEqual(['m0', 'm1', 'm2']);
    expect(warned[0]!.fix).toMatch(/^the backup was taken from a cluster of 3 members, m\d \(http:\/\/127\.0\.0\.1:\d+\), m\d/);
    expect(warned[0]!.fix).toContain('restore once per member, each with its own --name and --initial-advertise-peer-urls and the same --initial-cluster');
    expect(res.stdout).toContain(`warning: ${warned[0]!.fix}`);
    expect(res.stdout).toContain(`restored snapshot ${manifest.id}`);
  });

  it('restored to a point (--to) with --data-dir alone: the same warning', async () => {
    const res = await runCli(['restore', 'latest', '--to', String(manifest.etcd!.revision), '--data-dir', join(work, 'point')], env(cluster.endpoints, 'three'));
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr.split('\n').filter((l) => l.includes(WARNING))).toHaveLength(1);
    expect(res.stdout).toContain('warning: the backup was taken from a cluster of 3 members');
  }, 60_000);

  it('restored as one member of the cluster, with --name, --initial-cluster and --initial-advertise-peer-urls: no warning', async () => {
    const members = manifest.etcd!.members!;
    const initial = members.map((m, i) => `${m.name}=${peers[i]!}`).join(',');
    const res = await runCli(
      ['restore', 'latest', '--data-dir', join(work, 'member'), '--name', members[0]!.name, '--initial-cluster', initial, '--initial-advertise-peer-urls', peers[0]!],
      env(cluster.endpoints, 'three'),
    );
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).not.toContain(WARNING);
    expect(res.stdout).not.toContain('warning:');
  });
});

describe('a snapshot of a single member', () => {
  it('records that one member, and restores with --data-dir alone without a warning', async () => {
    const backup = await runCli(['backup', '--json'], env([lone.endpoint], 'one'));
    expect(backup.code, backup.stderr).toBe(0);
    expect((JSON.parse(backup.stdout) as Manifest).etcd!.members).toHaveLength(1);
    const list = await runCli(['list', '--json'], env([lone.endpoint], 'one'));
    expect((JSON.parse(list.stdout) as Manifest[])[0]!.etcd!.members).toEqual([{ name: expect.any(String), peerURLs: [expect.any(String)], id: expect.stringMatching(/^\d+$/) }]);
    const res = await runCli(['restore', 'latest', '--data-dir', join(work, 'lone')], env([lone.endpoint], 'one'));
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).not.toContain(WARNING);
    expect(res.stdout).not.toContain('warning:');
  });

  // Before: its `next:` line said only 'a single member named "default"': the member's name and peer URL, which the
  // manifest records, were not named, nor that etcd keeps the restored http://localhost:2380 in its membership whatever
  // flags start it (a member added later looks for it there). Now it names them, with the flags that keep them.
  it('restored with --data-dir alone, its next step names the member it was and the flags that keep its name and peer URL', async () => {
    const backup = await runCli(['backup', '--json'], env([lone.endpoint], 'one-next'));
    expect(backup.code, backup.stderr).toBe(0);
    const [member] = (JSON.parse(backup.stdout) as Manifest).etcd!.members!;
    const [name, url] = [member!.name, member!.peerURLs[0]!];
    expect(url).not.toBe('http://localhost:2380');
    const res = await runCli(['restore', 'latest', '--data-dir', join(work, 'lone-next')], env([lone.endpoint], 'one-next'));
    expect(res.code, res.stderr).toBe(0);
    const next = res.stdout.split('\n').find((l) => l.startsWith('next: '));
    expect(next).toContain('a single member named "default" with peer URL http://localhost:2380');
    expect(next).toContain(`The backup's member was ${name} at ${url}: to keep that name and peer URL, restore into a new --data-dir with --name ${name} --initial-cluster ${name}=${url} --initial-advertise-peer-urls ${url})`);
    // With those flags, the next step is the member as restored, and says nothing of "default".
    const kept = await runCli(['restore', 'latest', '--data-dir', join(work, 'lone-kept'), '--name', name, '--initial-cluster', `${name}=${url}`, '--initial-advertise-peer-urls', url], env([lone.endpoint], 'one-next'));
    expect(kept.code, kept.stderr).toBe(0);
    expect(kept.stdout).toContain(`next: etcd --data-dir ${join(work, 'lone-kept')} --name ${name} --initial-cluster ${name}=${url} --initial-advertise-peer-urls ${url} (the member as restored here`);
  });
});
