import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import { parseFrameHeader } from '../../src/archive/zstd-frame.js';
import type { BackupDiff } from '../../src/ops/diff.js';
import type { KeyRestoreReport } from '../../src/ops/restore-keys.js';
import type { FileVerifyResult } from '../../src/ops/verify.js';
import { runCli } from '../helpers/cli.js';
import type { TestEtcd } from '../helpers/etcd.js';
import { etcdWithSnapshotFile, type SnapshotFileSetup } from '../helpers/snapshot-file.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;

/**
 * The operator's habit: `etcdctl snapshot save s.db && zstd s.db`, then reshifter on `s.db.zst`. The zstd CLI writes
 * a whole file as one frame (its content size in the header, a window of 2 MiB at its default level), so any real
 * cluster's snapshot is one frame of more than 16 MiB. Before, every command refused it: 'the zstd data at byte 0
 * starts a frame that declares N bytes of content: reshifter reads frames of up to 16 MiB'. The decoder streams, so
 * such a frame is read whatever its size; only a window over 16 MiB (`zstd --long`) is refused, by name.
 */
let setup: SnapshotFileSetup;
let etcd: TestEtcd;
let work: string;
let file: string;
let zst: string;

/** 20 values of 1 MiB of base64 of random bytes: the snapshot is over 20 MiB, and so is zstd's one frame of it. */
const BIG = Array.from({ length: 20 }, (_, i) => `/registry/secrets/big/release-${i}`);

const env = (extra: Record<string, string> = {}) => ({ RS_ETCD_ENDPOINTS: etcd.endpoint, RS_TMP_DIR: setup.tmp, ...extra });
const cli = (args: string[], extra: Record<string, string> = {}) => runCli(args, env(extra), { cwd: work });

beforeAll(async () => {
  setup = await etcdWithSnapshotFile('zstd-cli-file', { namespaces: 2, podsPerNamespace: 3 }, async (client) => {
    for (const key of BIG) await client.put(key).value(randomBytes(768 * 1024).toString('base64'));
  });
  ({ etcd, work, file } = setup);
  await run('zstd', ['-q', file, '-o', `${file}.zst`]);
  zst = `${file}.zst`;
}, 120_000);

afterAll(async () => {
  await setup?.stop();
});

describe('a snapshot file compressed whole by the zstd CLI (one frame over 16 MiB)', () => {
  it('is one frame of more than 16 MiB, with a window within the bound', async () => {
    const header = parseFrameHeader(await readFile(zst));
    if (typeof header === 'number') throw new Error('no frame header');
    expect(header.contentSize).toBeGreaterThan(20 * MiB);
    expect(header.windowSize).toBeLessThanOrEqual(8 * MiB);
    const { stdout } = await run('zstd', ['-lv', zst]);
    expect(stdout).toMatch(/# Zstandard Frames: 1\n/);
  });

  it('verify checks it as the plain file, and leaves the work area empty', async () => {
    const res = await cli(['verify', zst, '--json']);
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout) as FileVerifyResult).toMatchObject({ file: zst, ok: true });
    expect(res.stdout).toContain('matches the data');
    expect(await readdir(setup.tmp)).toEqual([]);
  });

  it('inspect and stats read it as the file itself', async () => {
    const [inspect, plain] = await Promise.all([cli(['inspect', zst, '--keys']), cli(['inspect', file, '--keys'])]);
    expect(inspect.code, inspect.stderr).toBe(0);
    expect(inspect.stdout).toContain(BIG[19]);
    expect(inspect.stdout.split('\n').slice(1)).toEqual(plain.stdout.split('\n').slice(1));
    const stats = await cli(['stats', zst, '--json']);
    expect(stats.code, stats.stderr).toBe(0);
    const s = JSON.parse(stats.stdout) as { source: { kind: string; path: string }; keys: number };
    expect(s.source).toMatchObject({ kind: 'file', path: zst });
    expect(s.keys).toBeGreaterThan(BIG.length);
    expect(await readdir(setup.tmp)).toEqual([]);
  });

  it('diff finds it the same as the plain file', async () => {
    const res = await cli(['diff', zst, file, '--json']);
    expect(res.code, res.stderr).toBe(0);
    expect((JSON.parse(res.stdout) as BackupDiff).objects).toEqual([]);
    expect(await readdir(setup.tmp)).toEqual([]);
  });

  it('restore --snapshot-file writes the plain file back, byte for byte', async () => {
    const out = join(work, 'restored.db');
    const res = await cli(['restore', zst, '--snapshot-file', out]);
    expect(res.code, res.stderr).toBe(0);
    expect((await readFile(out)).equals(await readFile(file))).toBe(true);
    expect(await readdir(setup.tmp)).toEqual([]);
  });

  it('restore --keys writes its keys back into etcd', async () => {
    await etcd.ctl(['del', '--prefix', '/registry/secrets/big/']);
    const res = await cli(['restore', zst, '--keys', '--json'], { RS_INCLUDE_NAMESPACES: 'big' });
    expect(res.code, res.stderr).toBe(0);
    const report = JSON.parse(res.stdout) as KeyRestoreReport;
    expect(report).toMatchObject({ file: zst, dryRun: false });
    expect(report.totals.create).toBe(BIG.length);
    expect((await etcd.ctl(['get', BIG[7]!, '--print-value-only'])).trim().length).toBe(1024 * 1024);
    expect(await readdir(setup.tmp)).toEqual([]);
  });

  // Before: pzstd's file begins with a skippable frame, not zstd's magic: it was read as a bare snapshot and refused
  // 'not a bbolt file, or both meta pages are damaged: meta page 0 at offset 0: bad magic ...'.
  it('pzstd output (a skippable frame before each frame) is read as zstd by every command', async () => {
    const pz = join(work, 'pz.db.zst');
    await run('pzstd', ['-q', '-p', '2', file, '-o', pz]);
    expect((await readFile(pz)).readUInt32LE(0)).toBe(0x184d2a50);
    const verify = await cli(['verify', pz, '--json']);
    expect(verify.code, verify.stderr).toBe(0);
    expect(JSON.parse(verify.stdout) as FileVerifyResult).toMatchObject({ file: pz, ok: true });
    const out = join(work, 'from-pzstd.db');
    const restore = await cli(['restore', pz, '--snapshot-file', out]);
    expect(restore.code, restore.stderr).toBe(0);
    expect((await readFile(out)).equals(await readFile(file))).toBe(true);
    const diff = await cli(['diff', pz, file, '--json']);
    expect(diff.code, diff.stderr).toBe(0);
    expect((JSON.parse(diff.stdout) as BackupDiff).objects).toEqual([]);
    for (const args of [['inspect', pz], ['stats', pz]]) expect((await cli(args)).code, args.join(' ')).toBe(0);
    // restore without --keys names the decoding it needs, as for any zstd file.
    const hint = await cli(['restore', pz]);
    expect(hint.stderr).toContain(`"zstd -d ${pz} -o snapshot.db"`);
    expect(await readdir(setup.tmp)).toEqual([]);
  });

  it('zstd --long (a window over 16 MiB) is refused naming the window and what to run, exit 1', async () => {
    const long = join(work, 'long.db.zst');
    await run('zstd', ['-q', '--long', file, '-o', long]);
    for (const args of [['verify', long], ['inspect', long], ['restore', long, '--snapshot-file', join(work, 'never.db')]]) {
      const res = await cli(args);
      expect(res.code, args.join(' ')).toBe(1);
      expect(res.stderr).toMatch(
        /decompress: .*long\.db\.zst: the zstd data at byte 0 starts a frame with a window of [\d.]+ MiB \(\d+ bytes\), more than the 16 MiB reshifter reads \(zstd --long and --ultra levels write such windows\): decompress it first \("zstd -d .*long\.db\.zst -o snapshot\.db"\) and give reshifter snapshot\.db/,
      );
      expect(await readdir(setup.tmp)).toEqual([]);
    }
    expect(await readdir(work)).not.toContain('never.db');
  });
});

// Before: a stored backup whose artifact is one zstd frame over 16 MiB (re-compressed whole with the zstd CLI, its
// manifest's size and sha256 matching) failed verify and every reader: '... declares N bytes of content: reshifter reads
// frames of up to 16 MiB'. A stored backup is read by the same streaming decoder as a file, every other check kept.
describe('a stored snapshot backup whose artifact is one zstd frame over 16 MiB', () => {
  it('verify passes (size, sha256, decompress, raw-size, content), inspect and restore --snapshot-file read it', async () => {
    const store = join(work, 'store');
    const storeEnv = { RS_BACKUP_DIR: store, RS_COMPRESSION: 'zstd', RS_BACKUP_STRATEGY: 'snapshot' };
    const made = await cli(['backup', '--json'], storeEnv);
    expect(made.code, made.stderr).toBe(0);
    const m = JSON.parse(made.stdout) as Manifest;
    const artifact = join(store, m.cluster, m.artifact);
    const plain = join(work, 'stored-plain.db');
    await run('zstd', ['-q', '-d', '-f', artifact, '-o', plain]);
    await run('zstd', ['-q', '-f', plain, '-o', artifact]);
    const bytes = await readFile(artifact);
    expect((parseFrameHeader(bytes) as { contentSize?: number }).contentSize).toBeGreaterThan(20 * MiB);
    const forged: Manifest = { ...m, sha256: createHash('sha256').update(bytes).digest('hex'), sizeBytes: bytes.length };
    await writeFile(join(store, m.cluster, `${m.id}.manifest.json`), `${JSON.stringify(forged, null, 2)}\n`);
    const verify = await cli(['verify', m.id, '--json'], storeEnv);
    expect(verify.code, verify.stderr).toBe(0);
    const checks = (JSON.parse(verify.stdout) as { checks: Array<{ name: string; ok: boolean }> }).checks;
    expect(checks.filter((c) => c.ok).map((c) => c.name)).toEqual(expect.arrayContaining(['size', 'sha256', 'decompress', 'raw-size']));
    expect(checks.every((c) => c.ok)).toBe(true);
    expect((await cli(['inspect', m.id], storeEnv)).code).toBe(0);
    const out = join(work, 'from-store.db');
    const restore = await cli(['restore', m.id, '--snapshot-file', out], storeEnv);
    expect(restore.code, restore.stderr).toBe(0);
    expect((await readFile(out)).equals(await readFile(plain))).toBe(true);
  });
});

// Before: `xz s.db` (or bzip2, lz4) then `reshifter verify s.db.xz` said 's.db.xz is not a readable etcd snapshot: not a
// bbolt file, or both meta pages are damaged: meta page 0 at offset 0: bad magic ...', as if the file were damaged, and
// `restore s.db.xz` named "etcdctl snapshot restore s.db.xz --data-dir DIR", which fails the same way.
describe('a snapshot file compressed with what reshifter does not read (xz, bzip2)', () => {
  it.each([
    ['xz', '.xz'],
    ['bzip2', '.bz2'],
  ])('%s: every command names the compression and what to run, exit 1 (restore without --keys: its usage line, exit 2)', async (tool, ext) => {
    const packed = `${file}${ext}`;
    await run(tool, ['-1', '-k', '-f', file]);
    const said = `${packed} is compressed with ${tool}, which reshifter does not read (it reads gzip, zstd, age and zip files): decompress it first ("${tool} -dc ${packed} > snapshot.db") and give reshifter snapshot.db`;
    for (const args of [['verify', packed], ['inspect', packed], ['stats', packed], ['diff', packed, file], ['restore', packed, '--keys', '--dry-run'], ['restore', packed, '--snapshot-file', join(work, 'never.db')]]) {
      const res = await cli(args);
      expect(res.code, args.join(' ')).toBe(1);
      expect(res.stderr).toContain(`reshifter: ${said}\n`);
      expect(res.stderr).not.toMatch(/bbolt|meta page/);
    }
    const restore = await cli(['restore', packed, '--data-dir', join(work, 'never-dir')]);
    expect(restore.code).toBe(2);
    expect(restore.stderr).toContain(`${said}: "etcdctl snapshot restore snapshot.db --data-dir ${join(work, 'never-dir')}" restores that into a new data directory`);
    expect(await readdir(setup.tmp)).toEqual([]);
    expect(await readdir(work)).not.toContain('never.db');
  });
});
