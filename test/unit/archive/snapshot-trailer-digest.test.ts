import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { SnapshotTrailerCheck } from '../../../src/archive/snapshot-trailer.js';

/** A fake snapshot: pages of a bbolt file followed by etcd's sha256 trailer. */
const snapshot = (pages: number) => {
  const db = randomBytes(pages * 4096);
  return Buffer.concat([db, createHash('sha256').update(db).digest()]);
};

async function run(file: Buffer, chunk: number): Promise<SnapshotTrailerCheck> {
  const check = new SnapshotTrailerCheck();
  const parts: Buffer[] = [];
  for (let i = 0; i < file.length; i += chunk) parts.push(file.subarray(i, i + chunk));
  await pipeline(Readable.from(parts), check, async function* (src) {
    for await (const _ of src) void _;
  });
  return check;
}

describe('SnapshotTrailerCheck.fullDigest', () => {
  it.each([7, 32, 1000, 32 * 1024])('is the sha256 of the whole file, in %i-byte chunks', async (chunk) => {
    const file = snapshot(5);
    const check = await run(file, chunk);
    expect(check.fullDigest()).toBe(createHash('sha256').update(file).digest('hex'));
  });

  it('is not available before the stream ends', () => {
    expect(() => new SnapshotTrailerCheck().fullDigest()).toThrow(/not ended/);
  });
});
