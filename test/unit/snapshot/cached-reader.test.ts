import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CachedReader } from '../../../src/snapshot/cached-reader.js';

/** A 2 MiB "file" in memory, counting the reads that reach it. */
function fakeFile(): { data: Buffer; reads: number[]; readAt: (buf: Buffer, position: number) => Promise<void> } {
  const data = randomBytes(2 * 1024 * 1024 + 1234);
  const reads: number[] = [];
  return {
    data,
    reads,
    readAt: async (buf, position) => {
      reads.push(buf.length);
      await new Promise((r) => setImmediate(r));
      data.copy(buf, 0, position, position + buf.length);
    },
  };
}

describe('cached reader', () => {
  it('returns the right bytes for random reads and prefetches, with a cache smaller than the file', async () => {
    const f = fakeFile();
    const reader = new CachedReader(f.readAt, f.data.length, { cacheBytes: 64 * 1024, blockSize: 4096, maxReadAhead: 32 * 1024 });
    let seed = 1;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let i = 0; i < 2000; i++) {
      const length = rnd(4) === 0 ? rnd(200_000) : rnd(9000);
      const offset = rnd(f.data.length - length);
      if (rnd(5) === 0) reader.prefetch([rnd(f.data.length), rnd(f.data.length)]);
      const got = await reader.read(offset, length, 'test');
      expect(got.equals(f.data.subarray(offset, offset + length))).toBe(true);
    }
    await reader.close();
  });

  it('reads a sequential scan in large reads, and answers cached ranges synchronously', async () => {
    const f = fakeFile();
    const reader = new CachedReader(f.readAt, f.data.length, { blockSize: 4096, maxReadAhead: 256 * 1024 });
    for (let offset = 0; offset + 4096 <= f.data.length; offset += 4096) {
      expect((await reader.read(offset, 4096, 'scan')).equals(f.data.subarray(offset, offset + 4096))).toBe(true);
    }
    // 513 blocks in far fewer reads: the window grows to 64 blocks.
    expect(f.reads.length).toBeLessThan(40);
    expect(reader.readCached(8192, 100)?.equals(f.data.subarray(8192, 8292))).toBe(true);
    await reader.close();
  });
});
