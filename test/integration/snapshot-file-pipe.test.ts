import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { etcdWithSnapshotFile, type SnapshotFileSetup } from '../helpers/snapshot-file.js';

const MAIN = new URL('../../dist/main.js', import.meta.url).pathname;

/**
 * A snapshot file given as a pipe: `zstd -dc snap.db.zst | reshifter inspect /dev/stdin`, `reshifter stats <(aws s3 cp
 * s3://.../snap.db -)`. Before, every reader of snapshot files took only regular files, and a pipe was refused as no
 * backup id with "it is a file on this machine; ... \"reshifter inspect /dev/stdin\" reads a snapshot file": the very
 * command that was run.
 */
let setup: SnapshotFileSetup;
beforeAll(async () => {
  setup = await etcdWithSnapshotFile('snappipe', { namespaces: 2, podsPerNamespace: 4 });
}, 60_000);
afterAll(async () => {
  await setup?.stop();
});

/** Runs the built CLI as `cat file | reshifter ...` in a shell: its stdin a pipe (a FIFO, as a shell makes it). */
function piped(args: string[], file: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', 'cat "$0" | "$@"', file, process.execPath, MAIN, ...args], {
      cwd: setup.work,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LOG_LEVEL: 'warn', RS_ETCD_ENDPOINTS: setup.etcd.endpoint, RS_TMP_DIR: setup.tmp },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

it('inspect, stats, verify, diff and restore --keys --dry-run read a snapshot file piped into /dev/stdin, and leave no copy behind', async () => {
  const status = await piped(['inspect', '/dev/stdin', '--json'], setup.file);
  expect(status.code, status.stderr).toBe(0);
  const s = JSON.parse(status.stdout) as { source: { kind: string; path: string }; totalKey: number; trailer: { match: boolean } };
  expect(s.source).toEqual({ kind: 'file', path: '/dev/stdin' });
  expect(s.trailer.match).toBe(true);
  expect(s.totalKey).toBeGreaterThan(10);

  const stats = await piped(['stats', '/dev/stdin'], setup.file);
  expect(stats.code, stats.stderr).toBe(0);
  expect(stats.stdout).toMatch(/^source: +file \/dev\/stdin, API v3/);
  const verify = await piped(['verify', '/dev/stdin'], setup.file);
  expect(verify.code, verify.stderr).toBe(0);
  expect(verify.stdout).toMatch(/ok\s+snapshot sha256 trailer\s+matches the data/);
  const diff = await piped(['diff', '/dev/stdin', setup.file], setup.file);
  expect(diff.code, diff.stderr).toBe(0);
  expect(diff.stdout).toMatch(/0 added, 0 removed, 0 changed, \d+ unchanged/);
  const restore = await piped(['restore', '/dev/stdin', '--keys', '--dry-run'], setup.file);
  expect(restore.code, restore.stderr).toBe(0);
  expect(restore.stdout).toMatch(/dry run: would write 0 of \d+ keys/);
  expect(await readdir(setup.tmp)).toEqual([]);
}, 60_000);
