import { chmod, chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nonRootUid, runCliAsNonRoot } from '../helpers/non-root.js';
import { readOnlyView } from '../helpers/read-only.js';
import { runCli } from '../helpers/cli.js';

/**
 * The checkpoint folder of a DaemonSet that cannot delete archives there: a pod with runAsNonRoot (the kubelet's
 * folder is root's), or a hostPath mounted readOnly: true. Run as a non-root user (setpriv when the suite is root's).
 */
describe('checkpoint folder that cannot be written', () => {
  let dir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rs-ckpt-dir-'));
    await chmod(dir, 0o755);
    await writeFile(join(dir, 'token'), 'a-token\n', { mode: 0o644 });
    env = { RS_BACKUP_STRATEGY: 'checkpoint', RS_CHECKPOINT_TARGETS: 'shop/*', RS_KUBELET_TOKEN_FILE: join(dir, 'token'), RS_BACKUP_DIR: join(dir, 'store') };
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  // Before: the suite ran as root in CI, so this case was skipped; the message named neither the user nor the folder's
  // mode and owner.
  it('as a non-root user: names the uid, the folder\'s mode and owner, exit 2; unless archives are kept', async () => {
    const folder = join(dir, 'checkpoints');
    await mkdir(folder);
    if (process.getuid?.() === 0) await chown(folder, 0, 0);
    await chmod(folder, 0o755);
    const owner = process.getuid?.() === 0 ? 0 : process.getuid!();
    if (process.getuid?.() !== 0) await chmod(folder, 0o555);
    const res = await runCliAsNonRoot(['backup'], { ...env, RS_CHECKPOINT_DIR: folder }, dir);
    expect(res.code, res.stderr).toBe(2);
    const mode = process.getuid?.() === 0 ? '0755' : '0555';
    expect(res.stderr).toContain(
      `RS_CHECKPOINT_DIR was invalid: ${JSON.stringify(folder)} cannot be written by uid ${nonRootUid()} (mode ${mode}, owner uid ${owner}), and each archive is deleted there once stored: run as root (the kubelet's archives are root's), or set RS_CHECKPOINT_KEEP_LOCAL=true`,
    );
    const kept = await runCliAsNonRoot(['backup'], { ...env, RS_CHECKPOINT_DIR: folder, RS_CHECKPOINT_KEEP_LOCAL: 'true' }, dir);
    expect(kept.stderr).not.toContain('RS_CHECKPOINT_DIR');
  });

  // Before: "cannot be written ...: run as root" to a process that was root, on a hostPath mounted readOnly: true.
  it('on a read-only mount: says so, and not to run as root, exit 2', async () => {
    const folder = join(dir, 'mounted');
    await mkdir(folder);
    const view = await readOnlyView(folder);
    expect(view, 'root may bind-mount here').toBeDefined();
    try {
      const res = await runCli(['backup'], { ...env, RS_CHECKPOINT_DIR: view!.path });
      expect(res.code, res.stderr).toBe(2);
      if (process.getuid?.() === 0) {
        expect(res.stderr).toContain(
          `RS_CHECKPOINT_DIR was invalid: ${JSON.stringify(view!.path)} is on a read-only mount, and each archive is deleted there once stored: mount it writable (a hostPath volume without readOnly: true), or set RS_CHECKPOINT_KEEP_LOCAL=true`,
        );
      } else {
        // Not root: the view is the folder with its write bits cleared (see readOnlyView).
        expect(res.stderr).toContain(`${JSON.stringify(view!.path)} cannot be written by uid ${process.getuid!()}`);
      }
    } finally {
      await view!.release();
    }
  });
});
