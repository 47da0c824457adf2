import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { wantsHashAhead } from '../../../src/early-hash.js';

/**
 * main.ts starts the sha256 thread of `inspect FILE` before the CLI loads, guessing from the command line: only for
 * the status of a file big enough for a worker, with etcd's trailer; a wrong guess would start a thread for nothing.
 */
describe('the hashing thread started before the CLI loads', () => {
  let dir: string;
  let big: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'early-hash-'));
    big = join(dir, 'snap.db');
    await writeFile(big, '');
    // 17 MiB of data and a 32-byte trailer (sparse: nothing is written).
    await truncate(big, 17 * 1024 * 1024 + 32);
    await writeFile(join(dir, 'small.db'), Buffer.alloc(512 + 32));
    await writeFile(join(dir, 'raw.db'), '');
    await truncate(join(dir, 'raw.db'), 17 * 1024 * 1024);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('is started for the status of a big snapshot file, wherever the flags are', () => {
    expect(wantsHashAhead(['inspect', big])).toBe(true);
    expect(wantsHashAhead(['inspect', '--json', big])).toBe(true);
    expect(wantsHashAhead(['inspect', big, '--json'])).toBe(true);
  });

  it('is not started when no status is asked for, or of no such file', () => {
    for (const mode of ['--keys', '--render', '--get=/registry/a']) expect(wantsHashAhead(['inspect', big, mode])).toBe(false);
    expect(wantsHashAhead(['inspect', big, '--get', '/registry/a'])).toBe(false);
    expect(wantsHashAhead(['stats', big])).toBe(false);
    expect(wantsHashAhead(['inspect', 'latest'])).toBe(false);
    expect(wantsHashAhead(['inspect', dir])).toBe(false);
    // Hashed on the main thread (small), or no trailer to check (a raw member/snap/db).
    expect(wantsHashAhead(['inspect', join(dir, 'small.db')])).toBe(false);
    expect(wantsHashAhead(['inspect', join(dir, 'raw.db')])).toBe(false);
  });
});
