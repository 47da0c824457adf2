import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { augerPath } from '../../fixtures/auger/paths.js';
import { BoltFile } from '../../../src/snapshot/bolt-file.js';
import { FileSource } from '../../../src/snapshot/file-source.js';
import { readMeta } from '../../../src/snapshot/meta.js';
import { scanPages } from '../../../src/snapshot/page-scan.js';
import { inlineSha256Sink, prestartSha256Worker, workerSha256Sink } from '../../../src/snapshot/sha256-sink.js';
import { sha256OnWorker } from '../../../src/snapshot/sha256-worker.js';
import { boltStatus } from '../../../src/snapshot/status.js';

const DB = fileURLToPath(new URL('./fixtures/small.db', import.meta.url));
const AUGER = augerPath('boltdb-db');

async function withFile<T>(path: string, fn: (file: BoltFile) => Promise<T>): Promise<T> {
  const source = await FileSource.open(path);
  try {
    return await fn(new BoltFile(source, await readMeta(source)));
  } finally {
    await source.close();
  }
}

/** Scans `file` hashing on a worker thread, and expects the digest to be `trailer`. */
async function expectWorkerScanDigest(file: BoltFile, trailer: Buffer): Promise<void> {
  const sink = workerSha256Sink();
  try {
    await scanPages(file, sink, 8192);
    expect(await sink.digest()).toEqual(trailer);
  } finally {
    sink.close();
  }
}

describe('status from the sequential page scan', () => {
  it('equals the plain tree walk, whatever the chunk size (pages carried across chunks, broken chains)', async () => {
    for (const path of [DB, AUGER]) {
      await withFile(path, async (file) => {
        const walked = await boltStatus(file);
        for (const chunk of [4096, 8192, 12288, 65536, 4 * 1024 * 1024]) {
          expect(await boltStatus(file, await scanPages(file, undefined, chunk))).toEqual(walked);
        }
      });
    }
  });

  it('feeds a sink every byte of the file, in order', async () => {
    const bytes = await readFile(DB);
    await withFile(DB, async (file) => {
      const sink = inlineSha256Sink();
      await scanPages(file, sink, 12288);
      const logical = file.pageCount * file.pageSize;
      const digest = await sink.digest();
      expect(digest).toEqual(createHash('sha256').update(bytes.subarray(0, logical)).digest());
      // etcd's trailer is that digest.
      expect(bytes.subarray(logical)).toEqual(digest);
    });
  });

  it('hashes on a worker thread from shared memory, for big files', async () => {
    const bytes = await readFile(DB);
    await withFile(DB, async (file) => {
      const logical = file.pageCount * file.pageSize;
      await expectWorkerScanDigest(file, bytes.subarray(logical));
      expect(await sha256OnWorker(DB, logical)).toEqual(bytes.subarray(logical));
    });
  });

  it('takes a worker started ahead of time, once, and starts its own when there is none', async () => {
    const bytes = await readFile(DB);
    await withFile(DB, async (file) => {
      const logical = file.pageCount * file.pageSize;
      prestartSha256Worker();
      prestartSha256Worker(); // one is enough: the second call keeps the first
      for (let round = 0; round < 2; round++) await expectWorkerScanDigest(file, bytes.subarray(logical));
    });
  });
});
