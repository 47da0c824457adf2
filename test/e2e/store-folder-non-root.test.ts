import { chmod, chown, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { NON_ROOT_UID, boundByFileModes, closedFolder, nonRootUid, runCliAsNonRoot } from '../helpers/non-root.js';
import { readOnlyView } from '../helpers/read-only.js';
import { startTrap, type Trap } from '../helpers/trap.js';

/**
 * A local store a backup cannot write, as a pod with runAsNonRoot and a read-only root file system meets it: refused
 * before any work (exit 2, no connection to etcd), naming the folder in the way, the uid and the folder's mode and
 * owner. Before, a store folder that did not exist under a folder this user may not write passed the check: the
 * backup took etcd's snapshot, then failed writing it ('writing .../<id>.snapshot.db.zst: permission denied', exit 1).
 */
describe('a store folder a non-root backup cannot write', () => {
  let dir: string;
  let trap: Trap;
  const root = process.getuid?.() === 0;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rs-store-nr-'));
    await chmod(dir, 0o755);
    trap = await startTrap();
  });
  afterAll(async () => {
    await trap.close();
    await rm(dir, { recursive: true, force: true });
  });


  it('one to create under a folder it may not write: exit 2, naming that folder, nothing read from etcd', async () => {
    const { folder, mode } = await closedFolder(dir, 'var-backups');
    const store = join(folder, 'etcd', 'prod');
    const res = await runCliAsNonRoot(['backup'], { RS_ETCD_ENDPOINTS: `http://127.0.0.1:${trap.port}`, RS_BACKUP_DIR: store }, '/');
    expect(res.code, res.stderr).toBe(2);
    expect(res.stderr).toContain(
      `RS_BACKUP_DIR was invalid: ${JSON.stringify(store)} does not exist and cannot be created: the folder above it that exists, ${folder}, cannot be written by uid ${nonRootUid()} (${mode})`,
    );
    expect(trap.connections).toBe(0);
    expect(await readdir(folder)).toEqual([]);
  });

  it('one that exists and it may not write: names the uid, the mode and owner; list still reads it', async () => {
    const { folder, mode } = await closedFolder(dir, 'existing');
    const res = await runCliAsNonRoot(['backup'], { RS_ETCD_ENDPOINTS: `http://127.0.0.1:${trap.port}`, RS_BACKUP_DIR: folder }, '/');
    expect(res.code, res.stderr).toBe(2);
    expect(res.stderr).toContain(`RS_BACKUP_DIR was invalid: ${JSON.stringify(folder)} cannot be written by uid ${nonRootUid()} (${mode})`);
    const list = await runCliAsNonRoot(['list'], { RS_BACKUP_DIR: folder }, '/');
    expect(list.code, list.stderr).toBe(0);
    expect(trap.connections).toBe(0);
  });

  // Before: RS_BACKUP_DIR unset took ./backups unchecked, so a backup from a working directory this user may not write
  // (`/`, an image's root-owned WORKDIR) took etcd's snapshot, then failed writing it; so did `demo`, after its etcd.
  it('RS_BACKUP_DIR not set, from a working directory it may not write: exit 2 naming the default, nothing read from etcd', async () => {
    const { folder, mode } = await closedFolder(dir, 'workdir');
    const res = await runCliAsNonRoot(['backup'], { RS_ETCD_ENDPOINTS: `http://127.0.0.1:${trap.port}` }, folder);
    expect(res.code, res.stderr).toBe(2);
    expect(res.stderr).toContain(
      `RS_BACKUP_DIR is not set, and its default "./backups" (here ${join(folder, 'backups')}) does not exist and cannot be created: the folder above it that exists, ${folder}, cannot be written by uid ${nonRootUid()} (${mode}): set RS_BACKUP_DIR`,
    );
    expect(trap.connections).toBe(0);
    // Reading commands need nothing written: list there says there are no backups, exit 0.
    const list = await runCliAsNonRoot(['list'], {}, folder);
    expect(list.code, list.stderr).toBe(0);
  });

  // Before: 'listing /backups/default: permission denied', with neither whose the folder is nor what to do: a store
  // written by one user (root: a systemd unit, a hostPath CronJob) read by another in a recovery. Here the store is
  // uid 65534's and the reader root without its capabilities to override file modes (as bad-config.test.ts does).
  it('a store written by another user: list and verify name the folder or file, its mode and owner, and whom to run as', async () => {
    const store = join(dir, 'other-store');
    const cluster = join(store, 'default');
    await mkdir(cluster, { recursive: true });
    await chmod(store, 0o755);
    const id = '20261207T221704.070Z-69df6f';
    const file = join(cluster, `${id}.manifest.json`);
    await writeFile(file, '{}', { mode: 0o600 });
    const [owner, reader] = root ? [NON_ROOT_UID, 0] : [process.getuid!(), process.getuid!()];
    if (root) for (const p of [store, cluster, file]) await chown(p, owner, owner);
    await chmod(cluster, root ? 0o700 : 0o000);
    const list = await runCliAsNonRoot(['list'], { RS_BACKUP_DIR: store }, '/', boundByFileModes());
    expect(list.code, list.stderr).toBe(1);
    const fix = `and this is uid ${reader}: run reshifter as uid ${owner}, as the backups were written (reshifter keeps the store's folders 0700 and files 0600)`;
    // Only another user's folder has an owner to name (a suite run as non-root owns everything it makes).
    expect(list.stderr).toContain(`listing ${cluster}: permission denied${root ? `: the folder ${cluster} is mode 0700, owner uid ${owner}, ${fix}` : '\n'}`);
    await chmod(cluster, 0o755);
    if (!root) await chmod(file, 0o000);
    const verify = await runCliAsNonRoot(['verify', id], { RS_BACKUP_DIR: store }, '/', boundByFileModes());
    expect(verify.code, verify.stderr).toBe(1);
    expect(verify.stderr).toContain(`reading ${file}: permission denied${root ? `: the file ${file} is mode 0600, owner uid ${owner}, ${fix}` : '\n'}`);
  });

  it('one to create on a read-only file system: says so, exit 2, nothing read from etcd', async () => {
    const folder = join(dir, 'mounted');
    await mkdir(folder);
    const view = await readOnlyView(folder);
    expect(view, 'root may bind-mount here').toBeDefined();
    try {
      const store = join(view!.path, 'backups');
      const res = await runCli(['backup'], { RS_ETCD_ENDPOINTS: `http://127.0.0.1:${trap.port}`, RS_BACKUP_DIR: store });
      expect(res.code, res.stderr).toBe(2);
      const why = root ? 'cannot be written: its file system is read-only' : `cannot be written by uid ${process.getuid!()}`;
      expect(res.stderr).toContain(`RS_BACKUP_DIR was invalid: ${JSON.stringify(store)} does not exist and cannot be created: the folder above it that exists, ${view!.path}, ${why}`);
      expect(trap.connections).toBe(0);
    } finally {
      await view!.release();
    }
  });
});
