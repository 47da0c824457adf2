import { execFile } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { etcdWithSnapshotFile, type SnapshotFileSetup } from '../helpers/snapshot-file.js';

const run = promisify(execFile);
const MAIN = new URL('../../dist/main.js', import.meta.url).pathname;

/**
 * A compressed snapshot file given on the command line has no manifest to say what it decodes to: a few MB of gzip,
 * zstd or zip that inflate to a GiB filled the work area's disk (and whatever else used it) before the write failed.
 * The decode now stops once the decoded bytes would leave less than a tenth of the work area's file system free,
 * naming the file, the bytes decoded so far and RS_TMP_DIR, and leaves nothing in the work area; a pipe copied in
 * (`verify /dev/stdin`) is capped alike. The work area is a
 * 64 MiB tmpfs (root may mount one here; the tests skip otherwise): before the fix, each bomb filled it to ENOSPC.
 */
let setup: SnapshotFileSetup;
let work: string | undefined;
const GiB = 1024 ** 3;

beforeAll(async () => {
  setup = await etcdWithSnapshotFile('decode-bomb', { namespaces: 2, podsPerNamespace: 4 });
  const zeros = Buffer.alloc(1024 * 1024);
  // A GiB of zeros: gzip (1024 members, gunzipped as one stream), zstd in 1 MiB frames as reshifter writes them, and a k3s-like zip of one file.
  const gz = zlib.gzipSync(zeros, { level: 9 });
  await writeFile(join(setup.work, 'bomb.db.gz'), Buffer.concat(Array.from({ length: 1024 }, () => gz)));
  const frame = zlib.zstdCompressSync(zeros);
  await writeFile(join(setup.work, 'bomb.db.zst'), Buffer.concat(Array.from({ length: 1024 }, () => frame)));
  await run('sh', ['-c', `head -c ${GiB} /dev/zero > big.db && zip -q bomb.zip big.db && rm big.db`], { cwd: setup.work });
  await writeFile(join(setup.work, 'snap.db.gz'), zlib.gzipSync(await readFile(setup.file)));
  try {
    await run('mount', ['-t', 'tmpfs', '-o', 'size=64m,mode=0700', 'tmpfs', setup.tmp]);
    work = setup.tmp;
  } catch {
    work = undefined;
  }
}, 120_000);
afterAll(async () => {
  if (work !== undefined) await run('umount', [work]);
  await setup?.stop();
});

it.for([
  ['verify', 'bomb.db.gz', []],
  ['stats', 'bomb.db.zst', []],
  ['restore', 'bomb.db.gz', ['--keys', '--dry-run']],
  ['inspect', 'bomb.db.zst', []],
] as Array<[string, string, string[]]>)('%s %s (a GiB of zeros) stops before the work area is full, naming the file and RS_TMP_DIR, and leaves nothing', async ([command, file, extra], ctx) => {
  if (work === undefined) return ctx.skip();
  const path = join(setup.work, file);
  const res = await runCli([command, path, ...extra], { RS_ETCD_ENDPOINTS: setup.etcd.endpoint, RS_TMP_DIR: work });
  expect(res.stderr).toMatch(
    new RegExp(
      `reshifter: cannot decode ${path.replace(/[.]/g, '\\.')}: it decodes to more than 57\\.6 MiB \\(\\d+ bytes decoded so far\\), which is all the work area ${work} \\(RS_TMP_DIR\\) has free ` +
        'but the 6\\.4 MiB kept free on its disk: stopped there, the partial file removed\\. A compression bomb, or a snapshot larger than the work area can hold: give RS_TMP_DIR a folder with more room',
    ),
  );
  expect(res.stderr).not.toMatch(/no space left|is full/);
  expect(res.code).toBe(1);
  expect(await readdir(work)).toEqual([]);
});

it('a k3s zip whose one file says it unzips to a GiB is refused before anything is unzipped', async (ctx) => {
  if (work === undefined) return ctx.skip();
  const path = join(setup.work, 'bomb.zip');
  const res = await runCli(['verify', path], { RS_TMP_DIR: work });
  expect(res.stderr).toContain(`reshifter: cannot decode ${path}: it decodes to more than 57.6 MiB (its archive says ${GiB} bytes), which is all the work area ${work} (RS_TMP_DIR) has free but the 6.4 MiB kept free on its disk: nothing decoded.`);
  expect(res.code).toBe(1);
  expect(await readdir(work)).toEqual([]);
});

it('a pipe (`... | reshifter verify /dev/stdin`) that never ends is copied in only until the work area would be full', async (ctx) => {
  if (work === undefined) return ctx.skip();
  // Its stdin a pipe, as a shell makes it: 200 MiB, 3 times what the work area holds.
  const res = await run('sh', ['-c', 'head -c 209715200 /dev/zero | "$0" "$1" verify /dev/stdin; echo "exit $?" >&2', process.execPath, MAIN], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LOG_LEVEL: 'warn', RS_TMP_DIR: work },
  });
  expect(res.stderr).toMatch(
    new RegExp(
      `reshifter: cannot copy /dev/stdin: it holds more than 57\\.6 MiB \\(\\d+ bytes copied so far\\), which is all the work area ${work} \\(RS_TMP_DIR\\) has free ` +
        'but the 6\\.4 MiB kept free on its disk: stopped there, the partial file removed\\. A snapshot larger than the work area can hold: give RS_TMP_DIR a folder with more room',
    ),
  );
  expect(res.stderr).toMatch(/exit 1\n$/);
  expect(await readdir(work)).toEqual([]);
});

it('a real snapshot, gzipped, still decodes and verifies in the same small work area', async (ctx) => {
  if (work === undefined) return ctx.skip();
  const res = await runCli(['verify', join(setup.work, 'snap.db.gz')], { RS_TMP_DIR: work });
  expect(res.stderr).not.toMatch(/cannot decode/);
  expect(res.code, res.stderr).toBe(0);
  expect(await readdir(work)).toEqual([]);
});
