import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';

/**
 * A key dump's artifact copied out of the store (`aws s3 cp`, `cp` of the folder) and given as a file, as a snapshot
 * artifact can be: before, the bbolt reader called it `not a readable etcd snapshot: not a bbolt file, or both meta
 * pages are damaged`, which sends an operator looking for corruption in a sound backup.
 */
let etcd: TestEtcd;
let work: string;
beforeAll(async () => {
  etcd = await startEtcd();
  work = await mkdtemp(join(tmpdir(), 'rs-artifact-file-'));
  await mkdir(join(work, 'tmp'));
});
afterAll(async () => {
  await etcd?.stop();
  await rm(work, { recursive: true, force: true });
});

it('a key dump artifact given as a file is named as one, with its backup id to give instead, and nothing is left in the work area', async () => {
  await etcd.ctl(['put', '/registry/configmaps/default/app', '{"kind":"ConfigMap"}']);
  const store = join(work, 'store');
  const env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: store, RS_TMP_DIR: join(work, 'tmp') };
  const made = await runCli(['backup', '--json', '--strategy', 'raw'], env);
  expect(made.code, made.stderr).toBe(0);
  const m = JSON.parse(made.stdout.trim().split('\n').at(-1)!) as Manifest;
  const file = join(store, 'default', m.artifact);
  for (const args of [['inspect', file], ['inspect', file, '--keys'], ['stats', file], ['verify', file]]) {
    const res = await runCli(args, env);
    expect(res.code, `${args.join(' ')}: ${res.stdout}`).toBe(1);
    expect(res.stderr).toContain(`reshifter: ${file} is a reshifter key dump (tar), not an etcd snapshot: read it from the store by its id, as backup ${m.id}`);
    expect(res.stderr).not.toMatch(/meta page|bbolt/);
  }
  expect(await readdir(join(work, 'tmp'))).toEqual([]);
}, 60_000);

it('a key dump artifact copied alone (aws s3 cp of one file): restore names what it is and what it lacks, never etcd snapshot restore, and the advice works', async () => {
  await etcd.ctl(['put', '/registry/configmaps/default/app', '{"kind":"ConfigMap"}']);
  const store = join(work, 'store-alone');
  const env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: store, RS_CLUSTER_NAME: 'prod', RS_TMP_DIR: join(work, 'tmp') };
  const made = await runCli(['backup', '--json', '--strategy', 'raw'], env);
  expect(made.code, made.stderr).toBe(0);
  const m = JSON.parse(made.stdout.trim().split('\n').at(-1)!) as Manifest;
  const laptop = join(work, 'laptop');
  await mkdir(laptop);
  await copyFile(join(store, 'prod', m.artifact), join(laptop, m.artifact));
  const lacks = `the file alone is not enough: copy its manifest ${m.id}.manifest.json from beside it in the store too, put both in a folder named as the cluster`;
  const away = { ...env, RS_BACKUP_DIR: join(work, 'nowhere') };
  // Before: `restore FILE` without --keys advised "zstd -d FILE -o snapshot.db" and "etcdctl snapshot restore" of a tar.
  const plain = await runCli(['restore', join(laptop, m.artifact), '--dry-run'], away);
  expect(plain.code).toBe(2);
  expect(plain.stderr).toContain(`${join(laptop, m.artifact)} is named as the artifact of backup ${m.id}, a key dump, not an etcd snapshot: a backup is restored by its id ("reshifter restore ${m.id}"); ${lacks}`);
  expect(plain.stderr).not.toMatch(/snapshot restore|snapshot\.db/);
  const keys = await runCli(['restore', join(laptop, m.artifact), '--keys', '--dry-run'], away);
  expect(keys.code).toBe(1);
  expect(keys.stderr).toContain(`is a reshifter key dump (tar), not an etcd snapshot: read it from the store by its id, as backup ${m.id}`);
  expect(keys.stderr).toContain(lacks);
  // Renamed as it was copied (aws s3 cp s3://.../<id>.raw.tar.zst ./dump.tar.zst): told by its bytes, not its name.
  const renamed = join(laptop, 'dump.tar.zst');
  await copyFile(join(laptop, m.artifact), renamed);
  const byBytes = await runCli(['restore', renamed, '--dry-run'], away);
  expect(byBytes.code).toBe(2);
  expect(byBytes.stderr).toContain(`${renamed} is a reshifter key dump (tar), not an etcd snapshot: read it from the store by its id, as the backup it came from`);
  expect(byBytes.stderr).toContain('the file alone is not enough: copy its manifest <id>.manifest.json');
  expect(byBytes.stderr).not.toMatch(/snapshot restore|snapshot\.db/);
  // As advised: the manifest beside it, in a folder named as its cluster.
  await mkdir(join(laptop, 'prod'));
  await copyFile(join(laptop, m.artifact), join(laptop, 'prod', m.artifact));
  await copyFile(join(store, 'prod', `${m.id}.manifest.json`), join(laptop, 'prod', `${m.id}.manifest.json`));
  const advised = await runCli(['restore', m.id, '--dry-run'], { ...env, RS_BACKUP_DIR: laptop });
  expect(advised.code, advised.stderr).toBe(0);
  expect(advised.stdout).toContain('nothing was written');
}, 60_000);

/**
 * Found by an operator pass: an age-encrypted key dump copied alone (`aws s3 cp s3://.../<id>.raw.tar.zst.age
 * ./dump.age`) got the snapshot recipe ("age -d ... > snapshot.db", "etcdctl snapshot restore"), since the peek at its
 * first bytes did not decrypt. Its name says what it is even without the id; a configured key tells by its bytes.
 */
it('an encrypted key dump artifact copied alone: restore names it by its name, or by its decrypted bytes with a key, never etcd snapshot restore', async () => {
  await etcd.ctl(['put', '/registry/configmaps/default/app', '{"kind":"ConfigMap"}']);
  const store = join(work, 'store-age');
  const identity = join(work, 'age.txt');
  execFileSync('age-keygen', ['-o', identity], { stdio: 'pipe' });
  const recipient = /public key: (age1\w+)/.exec(await readFile(identity, 'utf8'))![1]!;
  const env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: store, RS_TMP_DIR: join(work, 'tmp'), RS_ENCRYPTION_RECIPIENTS: recipient };
  const made = await runCli(['backup', '--json', '--strategy', 'raw'], env);
  expect(made.code, made.stderr).toBe(0);
  const m = JSON.parse(made.stdout.trim().split('\n').at(-1)!) as Manifest;
  expect(m.artifact).toMatch(/\.raw\.tar\.zst\.age$/);
  const laptop = join(work, 'laptop-age');
  await mkdir(laptop);
  const copy = async (name: string) => (await copyFile(join(store, 'default', m.artifact), join(laptop, name)), join(laptop, name));
  const away = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: join(work, 'nowhere'), RS_TMP_DIR: join(work, 'tmp') };

  const named = await runCli(['restore', await copy(m.artifact), '--dry-run'], away);
  expect(named.code).toBe(2);
  expect(named.stderr).toContain(`is named as the artifact of backup ${m.id}, a key dump, not an etcd snapshot`);
  const noId = await runCli(['restore', await copy('dump.raw.tar.zst.age'), '--dry-run'], away);
  expect(noId.code).toBe(2);
  expect(noId.stderr).toContain(`${join(laptop, 'dump.raw.tar.zst.age')} is named as the artifact of a key dump (<id>.raw.tar...), not an etcd snapshot`);
  const renamed = await copy('dump.age');
  const byKey = await runCli(['restore', renamed, '--dry-run'], { ...away, RS_ENCRYPTION_IDENTITY_FILE: identity });
  expect(byKey.code).toBe(2);
  expect(byKey.stderr).toContain(`${renamed} is a reshifter key dump (tar), not an etcd snapshot: read it from the store by its id, as the backup it came from`);
  for (const res of [named, noId, byKey]) expect(res.stderr).not.toMatch(/snapshot restore|snapshot\.db/);
  expect(await readdir(join(work, 'tmp'))).toEqual([]);
}, 60_000);
