import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { constants, createGunzip, gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ParallelGzip } from '../../../src/archive/parallel-gzip.js';

async function compress(input: Buffer, gz: ParallelGzip, chunk = 32 * 1024): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let i = 0; i < input.length; i += chunk) parts.push(input.subarray(i, i + chunk));
  const out: Buffer[] = [];
  await pipeline(Readable.from(parts), gz, async function* (src) {
    for await (const c of src) out.push(c as Buffer);
  });
  return Buffer.concat(out);
}

/** The starts of gzip members (magic 1f 8b, deflate, header flags 0), as written by zlib. */
const members = (gz: Buffer) => {
  let n = 0;
  for (let i = gz.indexOf(Buffer.from([0x1f, 0x8b, 8])); i !== -1; i = gz.indexOf(Buffer.from([0x1f, 0x8b, 8]), i + 1)) n++;
  return n;
};

describe('ParallelGzip', () => {
  // Mixed data: compressible text and incompressible random bytes, not a multiple of the block size.
  const input = Buffer.concat([Buffer.alloc(300_000, 'kind: Pod\napiVersion: v1\n'), randomBytes(250_000), Buffer.alloc(123_457, 'x')]);

  it('writes one gzip member per block, in order, that gunzip reads back whole', async () => {
    const gz = await compress(input, new ParallelGzip(6, 2, 64 * 1024));
    expect(gunzipSync(gz).equals(input)).toBe(true);
    expect(members(gz)).toBeGreaterThanOrEqual(Math.ceil(input.length / (64 * 1024)));
    // The gzip CLI agrees (multi-member files are standard gzip).
    expect(execFileSync('gzip', ['-dc'], { input: gz }).equals(input)).toBe(true);
    // And so does the streaming decoder verify and restore use.
    const out: Buffer[] = [];
    await pipeline(Readable.from([gz]), createGunzip({ finishFlush: constants.Z_FINISH }), async function* (src) {
      for await (const c of src) out.push(c as Buffer);
    });
    expect(Buffer.concat(out).equals(input)).toBe(true);
  });

  it('gives the same bytes whatever the concurrency and input chunking', async () => {
    const a = await compress(input, new ParallelGzip(1, 1, 64 * 1024), 1000);
    const b = await compress(input, new ParallelGzip(1, 4, 64 * 1024), 70_000);
    expect(a.equals(b)).toBe(true);
  });

  it('writes a valid gzip file for an empty input', async () => {
    const gz = await compress(Buffer.alloc(0), new ParallelGzip(6));
    expect(gz.length).toBeGreaterThan(0);
    expect(gunzipSync(gz).length).toBe(0);
  });

  it('keeps few blocks in flight: a slow reader holds the input back', async () => {
    const gz = new ParallelGzip(1, 2, 16 * 1024);
    let written = 0;
    const src = Readable.from((function* () {
      for (let i = 0; i < 400; i++) {
        written += 16 * 1024;
        yield randomBytes(16 * 1024);
      }
    })());
    src.pipe(gz);
    await new Promise((r) => setTimeout(r, 300)); // nobody reads gz
    // Input accepted while unread: a few blocks in flight plus the streams' buffers, far from all 6.4 MB.
    expect(written).toBeLessThan(3 * 1024 * 1024);
    src.destroy();
    gz.destroy();
  });
});
