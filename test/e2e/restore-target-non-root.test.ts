import { chmod, chown, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { closedFolder, nonRootUid, runCliAsNonRoot } from '../helpers/non-root.js';

/**
 * A snapshot restored by a non-root user (a recovery pod with runAsNonRoot) into a folder it may not write: refused
 * before the backup is read (exit 2), naming the folder, the uid and the folder's mode and owner. Before, the backup
 * was downloaded and decoded first, then `etcdctl snapshot restore failed: Error: mkdir /var/lib/.etcd.reshifter-...:
 * permission denied` or `writing /var/lib/snap.db: permission denied` (exit 1): minutes lost on a big snapshot.
 */
describe('restore into a folder a non-root user may not write', () => {
  let etcd: TestEtcd;
  let dir: string;
  let env: Record<string, string>;
  let id: string;
  const root = process.getuid?.() === 0;

  beforeAll(async () => {
    etcd = await startEtcd();
    await etcd.ctl(['put', '/registry/configmaps/default/a', 'x']);
    dir = await mkdtemp(join(tmpdir(), 'rs-restore-nr-'));
    await chmod(dir, 0o755);
    for (const own of ['store', 'work', 'mine']) {
      await mkdir(join(dir, own));
      if (root) await chown(join(dir, own), nonRootUid(), nonRootUid());
    }
    env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: join(dir, 'store'), RS_TMP_DIR: join(dir, 'work') };
    const made = await runCliAsNonRoot(['backup', '--json'], env, dir);
    expect(made.code, made.stderr).toBe(0);
    id = (JSON.parse(made.stdout) as { id: string }).id;
  });
  afterAll(async () => {
    await etcd?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const fix = 'restore as a user who may write there (root, on the etcd host), or name a folder it can write';

  it('--data-dir to create under it: exit 2 before the backup is read, nothing made', async () => {
    const { folder, mode } = await closedFolder(dir, 'var-lib');
    const res = await runCliAsNonRoot(['restore', id, '--data-dir', join(folder, 'etcd')], env, dir);
    expect(res.code, res.stderr).toBe(2);
    expect(res.stderr).toContain(`--data-dir "${join(folder, 'etcd')}" cannot be created: the folder above it that exists, ${folder}, cannot be written by uid ${nonRootUid()} (${mode}): ${fix}`);
    expect(res.stderr).not.toContain('reading backup');
    expect(await readdir(folder)).toEqual([]);
    expect(await readdir(join(dir, 'work'))).toEqual([]);
  });

  it('--data-dir that exists empty (a volume) and it may not write: exit 2 naming it', async () => {
    const { folder, mode } = await closedFolder(dir, 'volume');
    const res = await runCliAsNonRoot(['restore', id, '--data-dir', folder], env, dir);
    expect(res.code, res.stderr).toBe(2);
    expect(res.stderr).toContain(`--data-dir "${folder}" cannot be written by uid ${nonRootUid()} (${mode}): ${fix}`);
    expect(res.stderr).not.toContain('reading backup');
  });

  it('--snapshot-file in it: exit 2 before the backup is read; in a folder of its own the file is written', async () => {
    const { folder, mode } = await closedFolder(dir, 'snapshots');
    const res = await runCliAsNonRoot(['restore', id, '--snapshot-file', join(folder, 'snap.db')], env, dir);
    expect(res.code, res.stderr).toBe(2);
    expect(res.stderr).toContain(`--snapshot-file: the folder ${folder} cannot be written by uid ${nonRootUid()} (${mode}); name a file in a folder it can write`);
    expect(res.stderr).not.toContain('reading backup');
    const ok = await runCliAsNonRoot(['restore', id, '--snapshot-file', join(dir, 'mine', 'snap.db')], env, dir);
    expect(ok.code, ok.stderr).toBe(0);
    expect(await readdir(join(dir, 'mine'))).toEqual(['snap.db']);
  });

  // Before: 'cannot stage backup <id> in the work area /tmp (RS_TMP_DIR): EROFS: read-only file system, mkdtemp
  // '/tmp/reshifter-<host>-<pid>-XXXXXX'', in a pod whose root file system is read-only and RS_TMP_DIR unset.
  it('a work area it may not write (RS_TMP_DIR unset, the system\'s closed): says so and to set RS_TMP_DIR, exit 1', async () => {
    const { folder, mode } = await closedFolder(dir, 'system-tmp');
    const { RS_TMP_DIR: _unset, ...rest } = env;
    const res = await runCliAsNonRoot(['inspect', id], { ...rest, TMPDIR: folder }, dir);
    expect(res.code, res.stderr).toBe(1);
    expect(res.stderr).toContain(
      `reshifter: cannot stage backup ${id} in the work area ${folder} (RS_TMP_DIR): ${folder} cannot be written by uid ${nonRootUid()} (${mode}): set RS_TMP_DIR to a folder this user can write (in a pod whose root file system is read-only, an emptyDir mounted there)`,
    );
    expect(res.stderr).not.toContain('mkdtemp');
  });
});
