import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { NotFoundError } from '../../src/core/errors.js';
import { USES } from '../../src/core/latest.js';
import { createLogger } from '../../src/log.js';
import type { OpContext } from '../../src/ops/context.js';
import { encryptionKeys } from '../../src/ops/encryption-keys.js';
import { openBackup } from '../../src/ops/open-backup.js';
import { verifyBackup } from '../../src/ops/verify.js';
import { BackupRepository } from '../../src/store/backup-repository.js';
import { LocalStore } from '../../src/store/local-store.js';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';

interface M {
  id: string;
  createdAt: string;
  artifact: string;
}

/**
 * Two reshifters pruning one local store at once (a CronJob deployed twice, a manual `prune` while the scheduled
 * run's retention runs), and readers of a backup that another one deletes: what is gone was deleted, not broken.
 */
describe('retention racing retention and readers on a local store', () => {
  let etcd: TestEtcd;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rs-concurrent-prune-'));
    etcd = await startEtcd();
    await etcd.ctl(['put', '/registry/namespaces/default', '{"kind":"Namespace"}']);
  });
  afterAll(async () => {
    await etcd?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /**
   * A store holding one real backup and `n` older copies of it, an hour apart (each its own id, artifact and manifest,
   * as many scheduled runs would have left): many backups for retention to delete, without taking them all.
   */
  async function storeWithBackups(name: string, n: number): Promise<{ env: Record<string, string>; newest: M; older: string[] }> {
    const env = { RS_BACKUP_DIR: join(dir, name), RS_CLUSTER_NAME: 'prod' };
    const res = await runCli(['backup', '--json'], { ...env, RS_ETCD_ENDPOINTS: etcd.endpoint });
    expect(res.code, res.stderr).toBe(0);
    const newest = JSON.parse(res.stdout) as M;
    const folder = join(env.RS_BACKUP_DIR, 'prod');
    const manifest = await readFile(join(folder, `${newest.id}.manifest.json`), 'utf8');
    const older: string[] = [];
    for (let i = 1; i <= n; i++) {
      const at = new Date(Date.parse(newest.createdAt) - i * 3600_000);
      const id = `${at.toISOString().replace(/[-:]/g, '')}-${i.toString(16).padStart(6, '0')}`;
      await copyFile(join(folder, newest.artifact), join(folder, newest.artifact.replace(newest.id, id)));
      await writeFile(join(folder, `${id}.manifest.json`), manifest.replaceAll(newest.id, id).replace(newest.createdAt, at.toISOString()));
      older.push(id);
    }
    return { env, newest, older };
  }

  it('two prunes and a list at once: both prunes succeed, and no backup the other deleted is called unreadable', async () => {
    const { env, newest } = await storeWithBackups('two-prunes', 300);
    const keepOne = { ...env, RS_RETENTION_KEEP_LAST: '1' };
    const [a, b, listed] = await Promise.all([runCli(['prune'], keepOne), runCli(['prune'], keepOne), runCli(['list'], env)]);
    for (const r of [a, b]) {
      expect(r.code, r.stderr).toBe(0);
      // Each read the listing before the other deleted: a manifest gone since is no unreadable manifest "kept".
      expect(r.stderr).not.toContain('unreadable manifest');
    }
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).not.toContain('not listed');
    expect(listed.stderr).not.toContain('unreadable manifest');
    const after = await runCli(['list', '--json'], env);
    expect((JSON.parse(after.stdout) as M[]).map((m) => m.id)).toEqual([newest.id]);
  });

  it('two prunes at once: each counts as deleted only the backups its own delete removed', async () => {
    // Before: the local store deleted with rm(force), so each prune logged and counted every backup of its listing,
    // those the other had removed first included (600 "deleted" of 300).
    const { env, older } = await storeWithBackups('two-prunes-count', 300);
    const keepOne = { ...env, RS_RETENTION_KEEP_LAST: '1' };
    const [a, b] = await Promise.all([runCli(['prune', '--json'], keepOne), runCli(['prune', '--json'], keepOne)]);
    const [ra, rb] = [a, b].map((r) => {
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as { deleted: string[]; goneMeanwhile: string[]; decisions: Array<{ id: string; keep: boolean }> };
    });
    expect([...ra!.deleted, ...rb!.deleted].sort()).toEqual([...older].sort());
    expect(ra!.deleted.filter((id) => rb!.deleted.includes(id))).toEqual([]);
    // What the other deleted is named as such, and is no decision of this one.
    expect(ra!.goneMeanwhile.filter((id) => !rb!.deleted.includes(id))).toEqual([]);
    expect(rb!.goneMeanwhile.filter((id) => !ra!.deleted.includes(id))).toEqual([]);
    for (const r of [ra!, rb!]) expect(r.decisions.filter((d) => !d.keep).map((d) => d.id).sort()).toEqual([...r.deleted].sort());
  });

  it('verify and a restore-side read of a backup deleted after its manifest was read say it was deleted, not damaged', async () => {
    const { env, older } = await storeWithBackups('deleted-while-read', 2);
    const loaded = loadConfig(env);
    if (!loaded.config) throw new Error(loaded.errors.join('; '));
    const ctx: OpContext = { config: loaded.config, log: createLogger('silent'), signal: new AbortController().signal };
    const repo = new BackupRepository(new LocalStore(env.RS_BACKUP_DIR!), 'prod');
    const [first, second] = [await repo.get(older[0]!, USES.any), await repo.get(older[1]!, USES.any)];
    // Another reshifter deletes both meanwhile, as a prune would.
    const del = await runCli(['delete', first.id, second.id], env);
    expect(del.code, del.stderr).toBe(0);

    const deleted = /^backup \S+ was deleted while it was being read: its manifest and artifact are no longer in .*another reshifter/;
    const verified = await verifyBackup(ctx, repo, first).then(() => undefined, (err: unknown) => err);
    expect(verified).toBeInstanceOf(NotFoundError);
    expect((verified as Error).message).toMatch(deleted);
    const opened = await openBackup(repo, second, await encryptionKeys(ctx.config, { forReading: true })).then(() => undefined, (err: unknown) => err);
    expect(opened).toBeInstanceOf(NotFoundError);
    expect((opened as Error).message).toMatch(deleted);
  });
});
