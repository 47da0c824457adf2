import { execFile } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import yazl from 'yazl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { createLogger } from '../../src/log.js';
import type { BackupDiff } from '../../src/ops/diff.js';
import { openSnapshotInput } from '../../src/ops/open-snapshot.js';
import type { KeyRestoreReport } from '../../src/ops/restore-keys.js';
import type { FileVerifyResult } from '../../src/ops/verify.js';
import { runCli } from '../helpers/cli.js';
import type { TestEtcd } from '../helpers/etcd.js';
import { etcdWithSnapshotFile, type SnapshotFileSetup } from '../helpers/snapshot-file.js';

/**
 * A k3s snapshot saved with `--compress` (`--etcd-snapshot-compress`) is `<name>.zip`, a zip holding the one snapshot
 * file, deflated. verify, stats, diff, inspect and `restore --keys` read it as they read a gzip copy: the entry is
 * unzipped into the work area, its CRC-32 and size checked, and the copy removed. A zip that is not one snapshot file
 * (none, two, encrypted, another method, cut, damaged, multi-disk) is refused naming it, with no stack trace and
 * nothing left in the work area. The zips are written here by yazl, stored and deflated, from etcdctl's snapshot.
 */
let setup: SnapshotFileSetup;
let etcd: TestEtcd;
let work: string;
let file: string;
/** The snapshot after ADDED was put and GONE deleted: diffed against the zip. */
let after: string;
/** As k3s writes it: deflated, its sizes and CRC-32 in a data descriptor after the data (Go's zip writer does so). */
let k3sZip: string;

const GONE = '/registry/configmaps/zipped/gone';
const ADDED = '/registry/configmaps/zipped/added';
const ENTRY = 'etcd-snapshot-server-1-1764990000';

const env = (extra: Record<string, string> = {}) => ({ RS_ETCD_ENDPOINTS: etcd.endpoint, RS_TMP_DIR: setup.tmp, ...extra });
const cli = (args: string[], extra: Record<string, string> = {}) => runCli(args, env(extra), { cwd: work });

/** Writes a zip of `entries` (name -> bytes, or a folder when null) to `path` with yazl. */
async function writeZip(path: string, entries: Array<[string, Buffer | null]>, compress = true): Promise<string> {
  const zip = new yazl.ZipFile();
  for (const [name, bytes] of entries) {
    if (bytes === null) zip.addEmptyDirectory(name);
    else zip.addBuffer(bytes, name, { compress });
  }
  zip.end();
  await pipeline(zip.outputStream, createWriteStream(path));
  return path;
}

/** `path`'s bytes with `change` applied, written to `out` in the work folder. */
async function patched(path: string, out: string, change: (b: Buffer) => void): Promise<string> {
  const bytes = await readFile(path);
  change(bytes);
  const to = join(work, out);
  await writeFile(to, bytes);
  return to;
}

beforeAll(async () => {
  setup = await etcdWithSnapshotFile('zip-file', { namespaces: 2, podsPerNamespace: 4 }, async (client) => {
    await client.put(GONE).value('in the snapshot');
  });
  ({ etcd, work, file } = setup);
  await etcd.ctl(['put', ADDED, 'after the snapshot']);
  await etcd.ctl(['del', GONE]);
  after = await setup.save('etcd-snapshot-server-1-1765076400');
  const zip = new yazl.ZipFile();
  zip.addReadStream(createReadStream(file), ENTRY, { compress: true });
  zip.end();
  k3sZip = join(work, `${ENTRY}.zip`);
  await pipeline(zip.outputStream, createWriteStream(k3sZip));
});

afterAll(async () => {
  await setup?.stop();
});

describe('a k3s snapshot zip', () => {
  it('verify checks the snapshot inside (stored or deflated) and leaves the work area empty', async () => {
    const res = await cli(['verify', k3sZip]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout.split('\n')[0]).toBe(`snapshot file ${k3sZip}`);
    expect(res.stdout).toMatch(/^ok {2}\tsnapshot sha256 trailer\tmatches the data$/m);
    expect(await readdir(setup.tmp)).toEqual([]);
    const stored = await writeZip(join(work, 'stored.zip'), [[ENTRY, await readFile(file)]], false);
    const json = await cli(['verify', stored, '--json']);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout) as FileVerifyResult).toMatchObject({ file: stored, ok: true });
    expect(await readdir(setup.tmp)).toEqual([]);
  });

  it('stats and inspect read it as the file itself', async () => {
    const [zipped, plain] = await Promise.all([cli(['stats', k3sZip, '--json']), cli(['stats', file, '--json'])]);
    expect(zipped.code, zipped.stderr).toBe(0);
    const z = JSON.parse(zipped.stdout) as { source: { kind: string; path: string }; keys: number };
    const p = JSON.parse(plain.stdout) as { keys: number };
    expect(z.source).toMatchObject({ kind: 'file', path: k3sZip });
    expect(z.keys).toBe(p.keys);
    const keys = await cli(['inspect', k3sZip, '--keys']);
    expect(keys.code, keys.stderr).toBe(0);
    expect(keys.stdout).toContain(GONE);
    expect(await readdir(setup.tmp)).toEqual([]);
  });

  it('diff compares it with a later snapshot file', async () => {
    const res = await cli(['diff', k3sZip, after, '--json']);
    expect(res.code, res.stderr).toBe(0);
    const d = JSON.parse(res.stdout) as BackupDiff;
    expect(d.from).toMatchObject({ id: k3sZip, strategy: 'snapshot' });
    expect(d.objects.map((o) => `${o.change} ${o.key}`).sort()).toEqual([`added ${ADDED}`, `removed ${GONE}`]);
    expect(await readdir(setup.tmp)).toEqual([]);
  });

  it('restore --keys writes its keys back into etcd', async () => {
    const res = await cli(['restore', k3sZip, '--keys', '--json'], { RS_INCLUDE_NAMESPACES: 'zipped' });
    expect(res.code, res.stderr).toBe(0);
    const report = JSON.parse(res.stdout) as KeyRestoreReport;
    expect(report).toMatchObject({ file: k3sZip, dryRun: false });
    expect(report.totals.create).toBe(1);
    expect((await etcd.ctl(['get', GONE, '--print-value-only'])).trim()).toBe('in the snapshot');
    expect(existsSync(join(work, 'backups'))).toBe(false);
    expect(await readdir(setup.tmp)).toEqual([]);
  });
});

describe('a k3s snapshot zip read by a command that is stopped', () => {
  // Before: a signal while the zip was unzipped said 'unzip of FILE stopped: ...', a command the operator had not run,
  // where a stop a moment later says 'stats of FILE stopped: ...' (and gzip, zstd and age files say so while decoded).
  it('while it is unzipped: said as the command that reads it, nothing left in the work area', async () => {
    const loaded = loadConfig({ RS_TMP_DIR: setup.tmp });
    if (!loaded.config) throw new Error(loaded.errors.join('; '));
    const stop = new AbortController();
    // The signal comes as the unzip starts: the line that says it is logged just before.
    const log = createLogger('info', { write: (line: string) => void (line.includes('(zip) into the work area') && stop.abort(new Error('received SIGTERM'))) });
    await expect(openSnapshotInput({ config: loaded.config, log, signal: stop.signal }, k3sZip, undefined, 'stats')).rejects.toThrow(`stats of ${k3sZip} stopped: received SIGTERM`);
    expect(stop.signal.aborted).toBe(true);
    expect(await readdir(setup.tmp)).toEqual([]);
  });
});

describe('restore of a snapshot file with --snapshot-file', () => {
  // k3s restores a plain snapshot file (--cluster-reset-restore-path), and its own --compress snapshots are zips. Before:
  // `restore FILE.zip --snapshot-file OUT` was refused with the commands of a --data-dir restore, OUT never written.
  it('of a k3s .zip writes the snapshot inside, byte for byte as etcdctl snapshot save wrote it, and etcd restores it', async () => {
    const out = join(work, 'from-zip.db');
    const res = await cli(['restore', k3sZip, '--snapshot-file', out, '--json']);
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ id: k3sZip, file: out, bytes: (await readFile(file)).length });
    expect((await readFile(out)).equals(await readFile(file))).toBe(true);
    expect(await readdir(setup.tmp)).toEqual([]);
    const cwd = await mkdtemp(join(work, 'from-zip-'));
    try {
      await promisify(execFile)('etcdctl', ['snapshot', 'restore', out, '--data-dir', join(cwd, 'restored')], { env: { ...process.env, ETCDCTL_API: '3' } });
      expect(await readdir(join(cwd, 'restored', 'member'))).toEqual(expect.arrayContaining(['snap', 'wal']));
    } finally {
      await rm(cwd, { recursive: true, force: true });
    }
    const text = await cli(['restore', k3sZip, '--snapshot-file', join(work, 'from-zip-2.db')]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`next: k3s server --cluster-reset --cluster-reset-restore-path=${join(work, 'from-zip-2.db')}`);
  });

  it('refuses a file whose trailer does not match, a member db without one and an existing OUT: nothing written', async () => {
    const bytes = await readFile(file);
    const damaged = join(work, 'trailer-changed.db');
    await writeFile(damaged, Buffer.concat([bytes.subarray(0, bytes.length - 1), Buffer.from([bytes[bytes.length - 1]! ^ 0xff])]));
    const noTrailer = join(work, 'member-db');
    await writeFile(noTrailer, bytes.subarray(0, bytes.length - 32));
    for (const [input, said] of [
      [damaged, `${damaged}: etcd's sha256 trailer does not match the data (the file was changed or damaged); ${join(work, 'never.db')} was not written`],
      [noTrailer, `${noTrailer} has no sha256 trailer: it is a member's db file, not a snapshot "etcdctl snapshot save" wrote`],
    ] as const) {
      const res = await cli(['restore', input, '--snapshot-file', join(work, 'never.db')]);
      expect(res.code, res.stderr).toBe(1);
      expect(res.stderr).toContain(said);
      expect(existsSync(join(work, 'never.db'))).toBe(false);
      expect((await readdir(work)).filter((n) => n.startsWith('.tmp-'))).toEqual([]);
    }
    const taken = await cli(['restore', k3sZip, '--snapshot-file', file]);
    expect(taken.code).toBe(2);
    expect(taken.stderr).toContain(`--snapshot-file: ${file} exists already; name a new file (it is never overwritten)`);
    expect((await readFile(file)).equals(bytes)).toBe(true);
    expect(await readdir(setup.tmp)).toEqual([]);
  });
});

describe('restore of a snapshot file without --keys', () => {
  /**
   * It names the commands that make a new data directory of the file (reshifter leaves that to etcd's tool); run as
   * printed, in a shell, they must work on this machine. Before: it said "etcdutl snapshot restore FILE ... (decompress
   * it first)" for every file: etcdutl is not on a machine with Debian's etcd 3.4 (etcdctl restores there), a k3s
   * snapshot is no compressed file, and a .zip was given to etcdutl as it is, with no word of how to unzip it.
   */
  it.each([
    ['a k3s snapshot file', () => file],
    ['a k3s .zip', () => k3sZip],
  ])('of %s names the commands that restore it, and they do', async (_, path) => {
    const res = await cli(['restore', path(), '--data-dir', 'restored']);
    expect(res.code).toBe(2);
    const named = /a new data directory from a file is (?:"([^"]+)", then )?"([^"]+)"/.exec(res.stderr);
    expect(named, res.stderr).not.toBeNull();
    const commands = [named![1], named![2]!].filter((c) => c !== undefined);
    const cwd = await mkdtemp(join(work, 'named-'));
    try {
      for (const c of commands) await promisify(execFile)('sh', ['-c', c], { cwd, env: { ...process.env, ETCDCTL_API: '3' } });
      expect(await readdir(join(cwd, 'restored', 'member'))).toEqual(expect.arrayContaining(['snap', 'wal']));
    } finally {
      await rm(cwd, { recursive: true, force: true });
    }
    if (path() === file) expect(res.stderr).toContain(`k3s server --cluster-reset --cluster-reset-restore-path=${file}`);
    // A zip is no file k3s restores: the form that writes the plain one is named.
    else expect(res.stderr).toContain(`(on k3s: "reshifter restore ${k3sZip} --snapshot-file FILE" writes the plain file that "k3s server --cluster-reset --cluster-reset-restore-path=FILE" takes)`);
  });

  // k3s resolves a relative path from where it runs (its service's folder), not the operator's shell: before, the
  // hint repeated the path as typed.
  it('of a path typed relative names the absolute path for k3s', async () => {
    const typed = relative(work, file);
    expect(typed).not.toMatch(/^\//);
    const res = await cli(['restore', typed, '--data-dir', 'restored']);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(`(on k3s: "k3s server --cluster-reset --cluster-reset-restore-path=${file}")`);
  });
});

describe('a zip that is not one readable snapshot file', () => {
  /** Offsets in a zip of one entry: its local header first, its central directory header after the data. */
  const central = (b: Buffer) => b.indexOf(Buffer.from('PK\x01\x02', 'latin1'));
  const eocd = (b: Buffer) => b.lastIndexOf(Buffer.from('PK\x05\x06', 'latin1'));

  it.each([
    ['no entry', async () => writeZip(join(work, 'empty.zip'), []), /empty\.zip is a zip archive that holds no file/],
    ['two entries', async () => writeZip(join(work, 'two.zip'), [[ENTRY, await readFile(file)], ['notes.txt', Buffer.from('x')]]), /two\.zip is a zip archive of 2 entries \(etcd-snapshot-server-1-1764990000, \.\.\.\)/],
    ['a folder only', async () => writeZip(join(work, 'folder.zip'), [['snapshots/', null]]), /folder\.zip is a zip archive that holds no file, only the folder snapshots\//],
    ['an encrypted entry', async () => patched(await writeZip(join(work, 'deflated.zip'), [[ENTRY, await readFile(file)]]), 'encrypted.zip', (b) => {
      b[6]! |= 0x01;
      b[central(b) + 8]! |= 0x01;
    }), /encrypted\.zip: etcd-snapshot-server-1-1764990000 in the zip archive is encrypted/],
    ['bzip2 (method 12)', async () => patched(await writeZip(join(work, 'plain.zip'), [[ENTRY, await readFile(file)]], false), 'bzip2.zip', (b) => {
      b.writeUInt16LE(12, 8);
      b.writeUInt16LE(12, central(b) + 10);
    }), /bzip2\.zip: .* is compressed with method 12; only stored \(0\) and deflate \(8\) are read/],
    ['a changed byte (CRC-32)', async () => patched(join(work, 'plain.zip'), 'flipped.zip', (b) => {
      b[b.indexOf(Buffer.from('in the snapshot'))]! ^= 0x01;
    }), /zip CRC-32: .*flipped\.zip: etcd-snapshot-server-1-1764990000 has CRC-32 [0-9a-f]{8}, the archive says [0-9a-f]{8} \(damaged\)/],
    ['a cut archive', async () => {
      const bytes = await readFile(k3sZip);
      const to = join(work, 'cut.zip');
      await writeFile(to, bytes.subarray(0, bytes.length >> 1));
      return to;
    }, /cut\.zip is not a readable zip archive \(cut or damaged\?\)/],
    ['damaged deflate data', async () => patched(k3sZip, 'garbled.zip', (b) => b.fill(0xff, 100, 1500)), /garbled\.zip: .*(does not unzip|CRC-32|unzips to)/],
    ['a multi-disk archive', async () => patched(join(work, 'plain.zip'), 'disk.zip', (b) => b.writeUInt16LE(1, eocd(b) + 4)), /disk\.zip is not a readable zip archive .*multi-disk/],
    // yazl writes no such name: "zz" becomes ".." in both headers. The library's error quotes it; ESC must not reach a terminal.
    ['an entry named with ESC sequences, out of its folder', async () => patched(await writeZip(join(work, 'named.zip'), [['zz/\u001b]0;owned\u0007\u001b[2J.db', Buffer.from('x')]]), 'escaped.zip', (b) => {
      for (let at = b.indexOf('zz/'); at >= 0; at = b.indexOf('zz/', at + 1)) b.write('..', at, 'latin1');
    }), /escaped\.zip is not a readable zip archive \(cut or damaged\?\): invalid relative path: \.\.\/\\x1b\]0;owned\\x07\\x1b\[2J\.db/],
  ])('%s: exit 1 naming the file, no stack trace, nothing left in the work area', async (_what, make, said) => {
    const zip = await make();
    for (const args of [['verify', zip], ['stats', zip], ['restore', zip, '--keys', '--dry-run'], ['restore', zip, '--snapshot-file', join(work, 'never-from-zip.db')]]) {
      const res = await cli(args);
      expect(res.code, `${args.join(' ')}: ${res.stderr}`).toBe(1);
      expect(res.stderr).toMatch(said);
      expect(res.stderr).not.toMatch(/\n\s+at |this is a bug/);
      expect(res.stderr).not.toMatch(/[\u0007\u001b]/);
      expect(await readdir(setup.tmp)).toEqual([]);
      expect(existsSync(join(work, 'never-from-zip.db'))).toBe(false);
    }
  });
});
