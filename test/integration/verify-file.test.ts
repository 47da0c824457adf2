import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { readdir, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FileVerifyResult } from '../../src/ops/verify.js';
import { runCli } from '../helpers/cli.js';
import type { TestEtcd } from '../helpers/etcd.js';
import { etcdWithSnapshotFile, type SnapshotFileSetup } from '../helpers/snapshot-file.js';

/**
 * `verify <snapshot-file>`: an operator of k3s or of a kubeadm etcd keeps snapshot files etcd's own tools wrote, and
 * wants to know that last night's file is whole before the day it is needed. It is checked as a snapshot backup's file
 * is (meta pages, etcd's sha256 trailer, every page); no store is configured or touched.
 */
let setup: SnapshotFileSetup;
let etcd: TestEtcd;
let work: string;
let file: string;
/** Some bytes of a value in the file: one of them is changed below. */
let valueBytes: Buffer;
/** Only the work area: no etcd, no RS_BACKUP_DIR, no S3; run in `work`, where a default ./backups would appear. */
const verify = (args: string[]) => runCli(['verify', ...args], { RS_TMP_DIR: setup.tmp }, { cwd: work });

beforeAll(async () => {
  setup = await etcdWithSnapshotFile('verify-file', { namespaces: 2, podsPerNamespace: 5, edgeCases: true }, async (client) => {
    const pods = await client.getAll().prefix('/registry/pods/').buffers();
    valueBytes = Object.values(pods)[0]!.subarray(0, 16);
  });
  ({ etcd, work, file } = setup);
});

afterAll(async () => {
  await setup?.stop();
});

describe('verify <snapshot-file>', () => {
  it('a whole etcdctl snapshot passes every check, trailer included, with no store', async () => {
    const res = await verify([file]);
    expect(res.code, res.stderr).toBe(0);
    // Which file the checks are of, first (as `verify <id>` names its backup).
    expect(res.stdout.split('\n')[0]).toBe(`snapshot file ${file}`);
    expect(res.stdout).toMatch(/^ok {2}\tsnapshot sha256 trailer\tmatches the data$/m);
    expect(res.stdout).toMatch(/^ok {2}\tsnapshot etcd key bucket\t/m);
    expect(res.stdout).not.toContain('FAIL');
    const json = await verify([file, '--json']);
    const result = JSON.parse(json.stdout) as FileVerifyResult;
    expect(result).toMatchObject({ file, ok: true });
    expect(result.checks.length).toBeGreaterThan(5);
    expect(existsSync(join(work, 'backups'))).toBe(false);
  });

  it('a gzip copy is decoded in the work area, checked, and the copy removed', async () => {
    const gz = `${file}.gz`;
    await pipeline(createReadStream(file), createGzip(), createWriteStream(gz));
    const res = await verify([gz]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/^ok {2}\tsnapshot sha256 trailer\tmatches the data$/m);
    expect(await readdir(setup.tmp)).toEqual([]);
  });

  it('one changed byte fails the trailer check: exit 1 naming the file and the check', async () => {
    const changed = join(work, 'changed.db');
    const bytes = await readFile(file);
    const at = bytes.indexOf(valueBytes);
    expect(at).toBeGreaterThan(0);
    bytes[at + 8] ^= 0x01;
    await writeFile(changed, bytes);
    const res = await verify([changed]);
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/^FAIL\tsnapshot sha256 trailer\t/m);
    expect(res.stderr).toContain(`${changed} failed verification: `);
  });

  it('a cut file fails, naming it; a file that is no snapshot at all too; no stack trace', async () => {
    const cut = join(work, 'cut.db');
    await writeFile(cut, await readFile(file));
    await truncate(cut, Math.floor((await stat(cut)).size / 2));
    const res = await verify([cut]);
    expect(res.code).toBe(1);
    expect(res.stderr + res.stdout).toContain(cut);
    const text = join(work, 'notes.txt');
    await writeFile(text, 'not a snapshot\n');
    const other = await verify([text]);
    expect(other.code).toBe(1);
    expect(other.stderr).toContain(`${text} is not a readable etcd snapshot`);
    for (const r of [res, other]) expect(r.stderr).not.toMatch(/\n\s+at |this is a bug/);
  });

  it('a path with a newline and ESC is printed escaped (verify, stats, restore --keys --dry-run), never raw', async () => {
    const odd = join(work, 'night\n\x1b[2Jly.db');
    const bytes = await readFile(file);
    bytes[bytes.indexOf(valueBytes) + 8] ^= 0x01;
    await writeFile(odd, bytes);
    const shown = `${join(work, 'night')}\\x0a\\x1b[2Jly.db`;
    const res = await verify([odd]);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`${shown} failed verification: `);
    await writeFile(odd, await readFile(file));
    const stats = await runCli(['stats', odd], { RS_TMP_DIR: setup.tmp }, { cwd: work });
    expect(stats.code, stats.stderr).toBe(0);
    expect(stats.stdout).toContain(`file ${shown}, API v3`);
    const restore = await runCli(['restore', odd, '--keys', '--dry-run'], { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_TMP_DIR: setup.tmp }, { cwd: work });
    expect(restore.code, restore.stderr).toBe(0);
    expect(restore.stdout).toContain(`snapshot file ${shown}\n`);
    for (const r of [res, stats, restore]) expect(r.stdout + r.stderr).not.toContain('\x1b');
  });

  it('--chain is for chains in the store: exit 2 saying so', async () => {
    const res = await verify([file, '--chain']);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(`--chain verifies a chain of backups in the store; ${file} is a file`);
  });
});
