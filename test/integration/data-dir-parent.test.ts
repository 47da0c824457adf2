import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';

/**
 * `restore --data-dir` under a folder that cannot be made: Node's recursive mkdir loops for ever where mkdir says
 * ENOENT under a parent that exists (/proc). Before, `restore latest --data-dir /proc/nope/dd` spun at full CPU after
 * decoding the snapshot and ignored SIGTERM (found with `timeout 30`: still running ten minutes later).
 */
let etcd: TestEtcd;
let work: string;
beforeAll(async () => {
  etcd = await startEtcd();
  work = await mkdtemp(join(tmpdir(), 'rs-data-dir-parent-'));
});
afterAll(async () => {
  await etcd?.stop();
  await rm(work, { recursive: true, force: true });
});

it('a --data-dir whose folder cannot be made fails naming it, exit 1, instead of hanging', async () => {
  await etcd.ctl(['put', '/registry/namespaces/default', '{"kind":"Namespace"}']);
  const env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: join(work, 'store'), RS_TMP_DIR: work };
  const made = await runCli(['backup', '--strategy', 'snapshot'], env);
  expect(made.code, made.stderr).toBe(0);
  const res = await runCli(['restore', 'latest', '--data-dir', '/proc/nope/dd'], env, { timeoutMs: 30_000 });
  expect(res.signal, 'killed: the restore did not end').toBeNull();
  expect(res.code, res.stdout).toBe(1);
  expect(res.stderr).toContain("reshifter: cannot create /proc/nope for --data-dir: ENOENT: no such file or directory, mkdir '/proc/nope'");
  // A folder that can be made still is, every level of it.
  const deep = join(work, 'a', 'b', 'dd');
  const ok = await runCli(['restore', 'latest', '--data-dir', deep], env);
  expect(ok.code, ok.stderr).toBe(0);
  expect(ok.stdout).toContain(`into ${deep} with`);
}, 90_000);

it('a local store under a folder that cannot be made fails the backup, exit 1, instead of hanging', async () => {
  // The same loop in the local store's put: `RS_BACKUP_DIR=/proc/nope/store backup` spun until killed.
  const res = await runCli(['backup', '--strategy', 'raw'], { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: '/proc/nope/store' }, { timeoutMs: 30_000 });
  expect(res.signal, 'killed: the backup did not end').toBeNull();
  expect(res.code, res.stderr).toBe(1);
  expect(res.stderr).toMatch(/reshifter: writing \/proc\/nope\/store\/default\/\S+\.raw\.tar\.zst: no such file/);
}, 60_000);
