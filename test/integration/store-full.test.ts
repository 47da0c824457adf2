import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { CliResult } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { loadBigValues } from '../helpers/faults.js';

const MAIN = new URL('../../dist/main.js', import.meta.url).pathname;

/**
 * A local store that cannot take the artifact (a full disk, a quota): the backup fails saying which file could not be
 * written and why, as the store's error, not as "unexpected error (this is a bug)" with the bare fs code. The write
 * failure is made without privileges by a file size limit (`ulimit -f`, with SIGXFSZ ignored: writes past it fail
 * with EFBIG, as they fail with ENOSPC on a full disk).
 */
let etcd: TestEtcd;
let dir: string;

beforeAll(async () => {
  etcd = await startEtcd();
  await loadBigValues(etcd.endpoint, 40); // 20 MiB of random bytes: the store fails while etcd still sends
  dir = await mkdtemp(join(tmpdir(), 'rs-store-full-'));
});
afterAll(async () => {
  await etcd?.stop();
  await rm(dir, { recursive: true, force: true });
});

function backupWithFileSizeLimit(store: string, strategy: string): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', 'trap "" XFSZ; ulimit -f 256; exec "$0" "$@"', process.execPath, MAIN, 'backup'], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: store, RS_BACKUP_STRATEGY: strategy },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

it.each(['snapshot', 'raw'])('a %s backup into a store that cannot take it: exit 1 naming the file and why; nothing left', async (strategy) => {
  const store = join(dir, strategy);
  const res = await backupWithFileSizeLimit(store, strategy);
  expect(res.code, res.stderr).toBe(1);
  expect(res.stderr).not.toMatch(/this is a bug/);
  expect(res.stderr).toMatch(new RegExp(`reshifter: writing ${store}/default/\\S+: file too large \\(over the file system's largest file, or the process's file size limit: ulimit -f\\)\n`));
  expect(await readdir(join(store, 'default'))).toEqual([]);
});
