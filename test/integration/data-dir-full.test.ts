import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { loadBigValues } from '../helpers/faults.js';

const run = promisify(execFile);

/**
 * `restore --data-dir` onto a disk too small for the database: before, the failure was etcdctl's stderr as it came,
 * a JSON log line of its own ending in `Error: write .../member/snap/db: no space left on device`. It now says the
 * file system of the data dir is full and about how much the restore needs there; nothing is left behind. The small
 * disk is a 2 MiB tmpfs (root may mount one here; the test is skipped otherwise), the backup ~6 MiB of incompressible
 * values.
 */
let etcd: TestEtcd;
let dir: string;
let disk: string | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rs-data-dir-full-'));
  etcd = await startEtcd();
  await loadBigValues(etcd.endpoint, 12);
  const res = await runCli(['backup'], { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: join(dir, 'store') });
  expect(res.code, res.stderr).toBe(0);
  await mkdir(join(dir, 'disk'));
  disk = await run('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', join(dir, 'disk')]).then(() => join(dir, 'disk'), () => undefined);
}, 60_000);

afterAll(async () => {
  if (disk !== undefined) await run('umount', [disk]);
  await etcd?.stop();
  await rm(dir, { recursive: true, force: true });
});

it('says the file system of the data dir is full and what it needs, and leaves nothing there', async (t) => {
  if (disk === undefined) return t.skip();
  const member = ['--name', 'm1', '--initial-cluster', 'm1=http://127.0.0.1:2380', '--initial-advertise-peer-urls', 'http://127.0.0.1:2380'];
  const res = await runCli(['restore', 'latest', '--data-dir', join(disk, 'etcd'), ...member], { RS_BACKUP_DIR: join(dir, 'store') });
  expect(res.code, res.stderr).toBe(1);
  expect(res.stderr).toMatch(new RegExp(`snapshot restore failed: the file system of ${disk} is full \\(no space left on device\\): it needs about [\\d.]+ MiB free there`));
  expect(res.stderr).toContain(`${join(disk, 'etcd')} was not created`);
  expect(res.stderr).not.toContain('"caller"');
  expect(await readdir(disk)).toEqual([]);
});
