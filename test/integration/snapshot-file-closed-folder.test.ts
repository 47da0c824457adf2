import { execFile } from 'node:child_process';
import { chmod, chown, copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { etcdWithSnapshotFile, type SnapshotFileSetup } from '../helpers/snapshot-file.js';

/**
 * k3s keeps its snapshots under /var/lib/rancher/k3s/server (0700 root): for another user a stat of
 * `.../db/snapshots/etcd-snapshot-server-1-<ts>` fails with EACCES, and before, `reshifter verify FILE` (stats, inspect,
 * restore --keys) took the path for a backup id and said it was "not a backup id ..., nor a file here (no such file)":
 * the file is there, the folder in the way was not named, nor what to do. Now the folder is named, with its mode and
 * owner, and running as its owner. Root reads anything, so as root the CLI runs without the capabilities that let it
 * (as test/e2e/bad-config.test.ts does) on a folder of another owner; anyone else gets a folder of mode 0000.
 */
let setup: SnapshotFileSetup;

beforeAll(async () => {
  setup = await etcdWithSnapshotFile('closed-folder', { namespaces: 1, podsPerNamespace: 2 });
});

afterAll(async () => {
  await chmod(join(setup.work, 'server'), 0o700).catch(() => undefined);
  await setup?.stop();
});

it('a snapshot file in a folder this user may not enter is said so, naming the folder, not "no such file"', async () => {
  const root = process.getuid?.() === 0;
  const uid = process.getuid!();
  const owner = root ? 65534 : uid;
  const server = join(setup.work, 'server');
  await mkdir(join(server, 'db', 'snapshots'), { recursive: true });
  const file = join(server, 'db', 'snapshots', 'etcd-snapshot-server-1-1764990000');
  await copyFile(setup.file, file);
  await chmod(setup.work, 0o755);
  if (root) await chown(server, owner, owner);
  await chmod(server, root ? 0o700 : 0o000);
  const asOther = root ? ['setpriv', '--bounding-set', '-dac_override,-dac_read_search'] : [];
  for (const command of [['verify'], ['stats'], ['inspect'], ['restore', '--keys', '--dry-run']]) {
    const argv = [...asOther, process.execPath, new URL('../../dist/main.js', import.meta.url).pathname, command[0]!, file, ...command.slice(1)];
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', RS_ETCD_ENDPOINTS: setup.etcd.endpoint, RS_TMP_DIR: setup.tmp, RS_BACKUP_DIR: join(setup.work, 'store') };
    const res = await promisify(execFile)(argv[0]!, argv.slice(1), { env, cwd: setup.work }).then(() => ({ code: 0, stderr: '' }), (e: { code: number; stderr: string }) => e);
    expect(res.code, res.stderr).toBe(2);
    expect(res.stderr).toContain(`the folder ${server} (mode ${root ? '0700' : '0000'}, owner uid ${owner}) cannot be entered by uid ${uid}: run reshifter as its owner`);
    expect(res.stderr).not.toContain('no such file');
  }
});

// Before: "FILE cannot be read: EACCES: permission denied, open 'FILE'", with neither the file's mode and owner nor
// what to do (k3s writes its snapshots 0600 root).
it('a snapshot file this user may not read names its mode and owner, and what to do', async () => {
  const root = process.getuid?.() === 0;
  const uid = process.getuid!();
  const owner = root ? 65534 : uid;
  const open = join(setup.work, 'open');
  await mkdir(open);
  await chmod(setup.work, 0o755);
  await chmod(open, 0o755);
  const file = join(open, 'etcd-snapshot-server-1-1764990000');
  await copyFile(setup.file, file);
  if (root) await chown(file, owner, owner);
  await chmod(file, root ? 0o600 : 0o000);
  const asOther = root ? ['setpriv', '--bounding-set', '-dac_override,-dac_read_search'] : [];
  for (const command of [['verify'], ['stats']]) {
    const argv = [...asOther, process.execPath, new URL('../../dist/main.js', import.meta.url).pathname, command[0]!, file];
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', RS_TMP_DIR: setup.tmp, RS_BACKUP_DIR: join(setup.work, 'store') };
    const res = await promisify(execFile)(argv[0]!, argv.slice(1), { env, cwd: setup.work }).then(() => ({ code: 0, stderr: '' }), (e: { code: number; stderr: string }) => e);
    expect(res.code, res.stderr).toBe(1);
    expect(res.stderr).toContain(`${file} cannot be read: EACCES`);
    expect(res.stderr).toContain(`(the file is mode ${root ? '0600' : '0000'}, owner uid ${owner}): run reshifter as its owner`);
  }
});
