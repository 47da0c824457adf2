import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
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
