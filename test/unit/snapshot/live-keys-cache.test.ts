import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BoltFile } from '../../../src/snapshot/bolt-file.js';
import { FileSource } from '../../../src/snapshot/file-source.js';
import { liveKeysOf } from '../../../src/snapshot/live-keys.js';
import { readMeta } from '../../../src/snapshot/meta.js';

// A real etcd 3.4 snapshot (fixtures/generate-small-db.sh).
const DB = fileURLToPath(new URL('./fixtures/small.db', import.meta.url));

describe('liveKeysOf and the block cache', () => {
  // Values are read around the cache, so the key bucket's pages cached by the pass that locates the keys (up to the
  // cache's 48 MiB) were held for nothing while values were read: a third of the peak RSS of stats or restore --keys.
  it('holds no cached blocks once it yields values', async () => {
    const source = await FileSource.open(DB);
    try {
      const file = new BoltFile(source, await readMeta(source));
      const walk = liveKeysOf(file);
      const cachedWhileValuesAreRead: number[] = [];
      let keys = 0;
      for await (const kv of walk) {
        expect(kv.key.length).toBeGreaterThan(0);
        cachedWhileValuesAreRead.push(source.cachedBytes);
        keys++;
      }
      expect(keys).toBeGreaterThan(10);
      expect(new Set(cachedWhileValuesAreRead)).toEqual(new Set([0]));
    } finally {
      await source.close();
    }
  });

  it('leaves the cache working for reads after the walk', async () => {
    const source = await FileSource.open(DB);
    try {
      const file = new BoltFile(source, await readMeta(source));
      for await (const kv of liveKeysOf(file)) expect(kv.key.length).toBeGreaterThan(0);
      await source.read(0, 4096, 'page 0');
      expect(source.cachedBytes).toBeGreaterThan(0);
    } finally {
      await source.close();
    }
  });
});
