import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExistsError, LocalStore } from '../../src/store/local-store.js';

/**
 * LocalStore.putFile, what `restore FILE.zip --snapshot-file OUT` (and `restore <id> --snapshot-file`) writes the
 * snapshot file with: copied through one reused buffer rather than a stream of the file, whose buffer per chunk held
 * ~30 MB more at the peak of a k3s zip's restore. The file written is the source's bytes, 0600 whatever the source's
 * mode, never over an existing entry, and nothing is left when it is stopped.
 */
let work: string;
let source: string;
let bytes: Buffer;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rs-putfile-'));
  source = join(work, 'source.db');
  // Not a multiple of the buffer: the last read is short.
  bytes = randomBytes(3 * 1024 * 1024 + 12345);
  await writeFile(source, bytes);
  await chmod(source, 0o644);
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('LocalStore.putFile', () => {
  it('writes the source bytes as a new 0600 file', async () => {
    await new LocalStore(join(work, 'a')).putFile('out.db', source, { noClobber: true });
    expect((await readFile(join(work, 'a', 'out.db'))).equals(bytes)).toBe(true);
    expect((await stat(join(work, 'a', 'out.db'))).mode & 0o777).toBe(0o600);
    expect(await readdir(join(work, 'a'))).toEqual(['out.db']);
  });

  it('with noClobber refuses an existing file, which is left as it was, and leaves no temporary file', async () => {
    const dir = join(work, 'b');
    await new LocalStore(dir).putFile('out.db', source);
    await writeFile(join(dir, 'out.db'), 'mine');
    await expect(new LocalStore(dir).putFile('out.db', source, { noClobber: true })).rejects.toBeInstanceOf(ExistsError);
    expect(await readFile(join(dir, 'out.db'), 'utf8')).toBe('mine');
    expect(await readdir(dir)).toEqual(['out.db']);
  });

  it('stopped by its signal, writes nothing', async () => {
    const dir = join(work, 'c');
    const ac = new AbortController();
    ac.abort(new Error('SIGTERM'));
    await expect(new LocalStore(dir).putFile('out.db', source, { signal: ac.signal })).rejects.toThrow(/aborted/);
    expect(await readdir(dir)).toEqual([]);
  });

  it('names a source that does not exist, and writes nothing', async () => {
    const dir = join(work, 'd');
    await expect(new LocalStore(dir).putFile('out.db', join(work, 'nope.db'))).rejects.toThrow(/no such file/);
    expect(await readdir(dir)).toEqual([]);
  });
});
