import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { readOnlyView, type ReadOnlyView } from '../helpers/read-only.js';
import { startS3, type TestS3 } from '../helpers/s3.js';

/**
 * A store mounted read-only (a backup volume attached `readOnly: true` to a recovery pod, an NFS export): every
 * command that only reads it works (list, verify, inspect, stats, diff, restore), and the ones that write it (backup,
 * prune) are refused before any work, naming the folder.
 */
describe('a read-only store', () => {
  let source: TestEtcd;
  let target: TestEtcd;
  let dir: string;
  let view: ReadOnlyView | undefined;
  let ids: { snapshot: string; raw: string };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rs-ro-store-'));
    [source, target] = await Promise.all([startEtcd(), startEtcd()]);
    await source.ctl(['put', '/registry/namespaces/shop', '{"kind":"Namespace"}']);
    await source.ctl(['put', '/registry/secrets/shop/db', 'c2VjcmV0']);
    const take = async (strategy: string) => {
      const res = await runCli(['backup', '--json', '--strategy', strategy], { RS_ETCD_ENDPOINTS: source.endpoint, RS_BACKUP_DIR: join(dir, 'store') });
      expect(res.code, res.stderr).toBe(0);
      return (JSON.parse(res.stdout) as { id: string }).id;
    };
    ids = { snapshot: await take('snapshot'), raw: await take('raw') };
    view = await readOnlyView(join(dir, 'store'));
  });
  afterAll(async () => {
    await view?.release();
    await Promise.all([source?.stop(), target?.stop()]);
    await rm(dir, { recursive: true, force: true });
  });

  const env = () => ({ RS_BACKUP_DIR: view!.path, RS_ETCD_ENDPOINTS: target.endpoint, RS_TMP_DIR: dir });

  it('lists, verifies, inspects, describes, compares and restores from it', async (ctx) => {
    if (view === undefined) return ctx.skip(); // root, and no mount allowed here: no way to make a folder read-only
    for (const args of [['list'], ['verify', ids.snapshot], ['verify', ids.raw], ['inspect', 'latest'], ['stats', ids.raw], ['diff', ids.snapshot, ids.raw], ['restore', ids.raw]]) {
      const res = await runCli(args, env());
      expect({ args, code: res.code }, res.stderr).toEqual({ args, code: 0 });
    }
    expect(await target.ctl(['get', '/registry/secrets/shop/db', '--print-value-only'])).toBe('c2VjcmV0\n');
  });

  it('refuses to back up into it or prune it, before any work', async (ctx) => {
    if (view === undefined) return ctx.skip();
    for (const args of [['backup'], ['prune']]) {
      const res = await runCli(args, env());
      expect({ args, code: res.code }).toEqual({ args, code: 2 });
      expect(res.stderr).toContain(`RS_BACKUP_DIR was invalid: ${JSON.stringify(view.path)} cannot be written`);
    }
  });

  // The image sets RS_BACKUP_DIR=/backups and every manifest mounts the root file system read-only: beside
  // RS_S3_BUCKET that folder is not the store, and must not stop a backup (it did: exit 2, 'cannot be written').
  it('is no obstacle when RS_S3_BUCKET selects the store: backup, prune and list go to S3', async (ctx) => {
    if (view === undefined) return ctx.skip();
    const s3: TestS3 = await startS3();
    try {
      for (const args of [['backup'], ['prune'], ['list']]) {
        const res = await runCli(args, { ...env(), ...s3.env, RS_ETCD_ENDPOINTS: source.endpoint });
        expect({ args, code: res.code }, res.stderr).toEqual({ args, code: 0 });
        expect(res.stderr).not.toContain('RS_BACKUP_DIR');
      }
    } finally {
      await s3.stop();
    }
  });
});
