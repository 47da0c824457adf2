import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli, type CliResult } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { loadBigValues } from '../helpers/faults.js';
import { startS3, type TestS3 } from '../helpers/s3.js';

const run = promisify(execFile);

/**
 * A work area (RS_TMP_DIR) too small for what is staged in it: verify, inspect and restore of a stored backup fail
 * naming the work area and RS_TMP_DIR and saying it is full, not blaming the store ('could not read the stored
 * artifact: ENOSPC') or the backup ('cannot be read: ENOSPC'); exit 1, and nothing is left in the work area. The
 * full work area is a 2 MiB tmpfs (root may mount one here; the tests skip otherwise), the backups ~6 MiB of
 * incompressible values.
 */
let etcd: TestEtcd;
let target: TestEtcd;
let s3: TestS3;
let dir: string;
let work: string | undefined;
let ids: { snapshot: string; s3raw: string };

async function mountSmallTmpfs(path: string): Promise<boolean> {
  await mkdir(path);
  try {
    await run('mount', ['-t', 'tmpfs', '-o', 'size=2m,mode=0700', 'tmpfs', path]);
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rs-work-full-'));
  [etcd, target, s3] = await Promise.all([startEtcd(), startEtcd(), startS3()]);
  await loadBigValues(etcd.endpoint, 12);
  const take = async (strategy: string, store: Record<string, string>) => {
    const res = await runCli(['backup', '--json', '--strategy', strategy], { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_COMPRESSION: 'gzip', ...store });
    expect(res.code, res.stderr).toBe(0);
    return (JSON.parse(res.stdout) as { id: string }).id;
  };
  const local = { RS_BACKUP_DIR: join(dir, 'store') };
  ids = { snapshot: await take('snapshot', local), s3raw: await take('raw', s3.env) };
  if (await mountSmallTmpfs(join(dir, 'work'))) work = join(dir, 'work');
});
afterAll(async () => {
  if (work !== undefined) await run('umount', [work]);
  await Promise.all([etcd?.stop(), target?.stop(), s3?.stop()]);
  await rm(dir, { recursive: true, force: true });
});

const env = (store: Record<string, string> = { RS_BACKUP_DIR: join(dir, 'store') }) => ({ RS_ETCD_ENDPOINTS: target.endpoint, RS_TMP_DIR: work!, ...store });

function expectWorkAreaFull(res: CliResult, what: string): void {
  expect(res.code, res.stderr).toBe(1);
  expect(res.stderr).toContain(`${what}: the work area ${work!} (RS_TMP_DIR) is full: no space left on the device; it needs up to 2× the etcd database size free (README: Work area)`);
  expect(res.stderr).not.toMatch(/could not read the stored artifact|cannot be read|this is a bug/);
  expect(res.stdout).not.toMatch(/FAIL/);
}

it('verify of a compressed snapshot says the work area is full, not that the backup failed a check', async (ctx) => {
  if (work === undefined) return ctx.skip(); // no tmpfs may be mounted here: no small filesystem to fill
  const res = await runCli(['verify', ids.snapshot], env());
  expectWorkAreaFull(res, `cannot verify backup ${ids.snapshot}`);
  expect(await readdir(work)).toEqual([]);
});

it('inspect of a stored compressed snapshot says the work area is full; of a compressed snapshot file, that it decodes to more than the work area has free', async (ctx) => {
  if (work === undefined) return ctx.skip();
  expectWorkAreaFull(await runCli(['inspect', ids.snapshot], env()), `cannot stage backup ${ids.snapshot}`);
  expect(await readdir(work)).toEqual([]);
  // A gzip snapshot file (the stored artifact copied out of the store), decoded into the work area.
  const stored = (await readdir(join(dir, 'store', 'default'))).find((n) => n.startsWith(ids.snapshot) && n.endsWith('.gz'))!;
  const file = join(dir, 'etcd.db.gz');
  await copyFile(join(dir, 'store', 'default', stored), file);
  // It has no manifest to cap what it decodes to: stopped before the work area is full (decode-bomb.test.ts).
  const res = await runCli(['inspect', file], env());
  expect(res.code, res.stderr).toBe(1);
  expect(res.stderr).toMatch(new RegExp(`cannot decode ${file.replace(/[.]/g, '\\.')}: it decodes to more than [\\d.]+ MiB \\(\\d+ bytes decoded so far\\), which is all the work area ${work} \\(RS_TMP_DIR\\) has free`));
  expect(await readdir(work)).toEqual([]);
});

it('restore --data-dir of a compressed snapshot, and a key restore from S3, say the work area is full; nothing is written', async (ctx) => {
  if (work === undefined) return ctx.skip();
  const dataDir = join(dir, 'restored');
  expectWorkAreaFull(await runCli(['restore', ids.snapshot, '--data-dir', dataDir], env()), `cannot stage backup ${ids.snapshot}`);
  expect(await readdir(dataDir).catch(() => [])).toEqual([]);
  expectWorkAreaFull(await runCli(['restore', ids.s3raw], env(s3.env)), `cannot stage backup ${ids.s3raw}`);
  expect(await target.ctl(['get', '/registry/', '--prefix', '--keys-only'])).toBe('');
  expect(await readdir(work)).toEqual([]);
});
