import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { xxh64 } from '@node-rs/xxhash';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, type Duplex } from 'node:stream';
import zlib from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { ParallelZstd } from '../../../src/archive/parallel-zstd.js';
import { ZstdDecoder } from '../../../src/archive/zstd-decoder.js';
import { MAX_BLOCK, ZSTD_MAGIC, parseFrameHeader, withSizeAndChecksum } from '../../../src/archive/zstd-frame.js';
import { IntegrityError } from '../../../src/core/errors.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);
const work = mkdtempSync(join(tmpdir(), 'rs-zstd-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** `input` in chunks of `chunk` bytes (or of the sizes `chunk` returns). */
function pieces(input: Buffer, chunk: number | (() => number) = 32 * KiB): Buffer[] {
  const parts: Buffer[] = [];
  for (let i = 0; i < input.length; ) {
    const n = Math.max(1, typeof chunk === 'number' ? chunk : chunk());
    parts.push(input.subarray(i, i + n));
    i += n;
  }
  return parts;
}

async function through(step: Duplex, parts: Buffer[]): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(Readable.from(parts), step, async function* (src) {
    for await (const c of src) out.push(c as Buffer);
  });
  return Buffer.concat(out);
}

const compress = (input: Buffer, level = 1, blockSize = 64 * KiB, concurrency = 2, chunk: number | (() => number) = 32 * KiB) =>
  through(new ParallelZstd(level, concurrency, blockSize), pieces(input, chunk));
const decompress = (stored: Buffer, chunk: number | (() => number) = 32 * KiB) => through(new ZstdDecoder(), pieces(stored, chunk));

/** Why decoding `stored` failed: the error, which must be an IntegrityError naming the decompress check. */
async function refusal(stored: Buffer, chunk: number | (() => number) = 32 * KiB): Promise<IntegrityError> {
  const err = await decompress(stored, chunk).then(() => undefined, (e: unknown) => e);
  expect(err, 'decoding should have failed').toBeInstanceOf(IntegrityError);
  expect((err as IntegrityError).check).toBe('decompress');
  return err as IntegrityError;
}

/** Kubernetes-like text, random (incompressible) bytes and runs, not a multiple of any block size. */
function mixed(size: number): Buffer {
  const text = Buffer.from('{"kind":"Pod","apiVersion":"v1","metadata":{"name":"web-0","namespace":"default"}}\n'.repeat(Math.ceil(size / 140)));
  return Buffer.concat([text, randomBytes(Math.ceil(size / 4)), Buffer.alloc(size, 'x')]).subarray(0, size);
}

/** Frames in a zstd stream, by walking the frame headers the way `zstd -l` does. */
function frameCount(stored: Buffer): number {
  const out = execFileSync('zstd', ['-lv', writeTemp(stored)], { encoding: 'utf8' });
  return Number(/# Zstandard Frames: (\d+)/.exec(out)?.[1]);
}

let temps = 0;
function writeTemp(bytes: Buffer, ext = 'zst'): string {
  const path = join(work, `t${temps++}.${ext}`);
  writeFileSync(path, bytes);
  return path;
}
const writeTempBin = (bytes: Buffer) => writeTemp(bytes, 'bin');

/** A hand-built frame: header (no content size, window 128 KiB unless given) and blocks [type, size, body]. */
function frame(blocks: Array<[type: number, size: number, body: Buffer]>, header = Buffer.from([0x00, 0x38])): Buffer {
  const parts: Buffer[] = [Buffer.alloc(4), header];
  parts[0]!.writeUInt32LE(ZSTD_MAGIC);
  blocks.forEach(([type, size, body], i) => {
    const v = (size << 3) | (type << 1) | (i === blocks.length - 1 ? 1 : 0);
    parts.push(Buffer.from([v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff]), body);
  });
  return Buffer.concat(parts);
}

describe('zstd codec', () => {
  it.each([0, 1, 64 * KiB - 1, 64 * KiB, 64 * KiB + 1, 3 * 64 * KiB + 12_345])('round-trips %i bytes, whatever the chunking', async (size) => {
    const input = mixed(size);
    const stored = await compress(input);
    expect((await decompress(stored)).equals(input)).toBe(true);
    // Frames cut anywhere: one byte at a time, and chunks of odd sizes.
    if (size < 70 * KiB) expect((await decompress(stored, 1)).equals(input)).toBe(true);
    let n = 0;
    expect((await decompress(stored, () => [7, 3, 70_001, 2, 4096][n++ % 5]!)).equals(input)).toBe(true);
    // One frame per block, each declaring the size of its block; an empty input is one empty frame.
    expect(frameCount(stored)).toBe(Math.max(1, Math.ceil(size / (64 * KiB))));
  });

  it('round-trips a big input in 1 MiB frames that zstd -d reads whole, and reads back what the zstd CLI writes', async () => {
    const input = mixed(24 * MiB + 777);
    const stored = await through(new ParallelZstd(3), pieces(input));
    expect(frameCount(stored)).toBe(25);
    const first = parseFrameHeader(stored);
    expect(typeof first === 'object' && first.contentSize).toBe(MiB);
    expect(execFileSync('zstd', ['-dc', writeTemp(stored)], { maxBuffer: 64 * MiB }).equals(input)).toBe(true);
    expect((await decompress(stored)).equals(input)).toBe(true);
    // The other way: the CLI's own frames (checksummed), from a file (content size known) and from a pipe (not).
    const small = input.subarray(0, 5 * MiB);
    const path = join(work, 'small.bin');
    writeFileSync(path, small);
    for (const args of [['-19', '-c', path], ['-1', '-c', '--no-check', path]]) {
      expect((await decompress(execFileSync('zstd', args, { maxBuffer: 64 * MiB }))).equals(small)).toBe(true);
    }
    expect((await decompress(execFileSync('zstd', ['-3', '-c'], { input: small, maxBuffer: 64 * MiB }))).equals(small)).toBe(true);
    // pzstd writes several frames, each after a skippable frame that holds its size.
    const pz = execFileSync('pzstd', ['-q', '-p', '2', '-c', join(work, 'small.bin')], { maxBuffer: 64 * MiB });
    expect(pz.readUInt32LE(0) & 0xfffffff0).toBe(0x184d2a50);
    expect((await decompress(pz, 1000)).equals(small)).toBe(true);
  });

  it('writes the same bytes whatever the concurrency and input chunking', async () => {
    const input = mixed(700 * KiB);
    const a = await compress(input, 3, 64 * KiB, 1, 1000);
    const b = await compress(input, 3, 64 * KiB, 4, 70_000);
    expect(a.equals(b)).toBe(true);
  });

  it('compresses smaller at a higher level', async () => {
    const input = mixed(512 * KiB);
    expect((await compress(input, 12)).length).toBeLessThan((await compress(input, 1)).length);
  });

  it('adds size and checksum to a frame written in pieces, also when its header is split between them', async () => {
    const content = mixed(300 * KiB);
    // A streaming encoder's frame: neither size nor checksum.
    const frame = await through(new zlib.ZstdCompress(), [content]);
    expect((parseFrameHeader(frame) as { contentSize?: number }).contentSize).toBeUndefined();
    for (const cuts of [[], [3], [7, 20], [frame.length - 2]]) {
      const pieces = [0, ...cuts].map((at, i, all) => frame.subarray(at, all[i + 1] ?? frame.length));
      const out = Buffer.concat(withSizeAndChecksum(pieces, content, (b) => xxh64(b)));
      const h = parseFrameHeader(out) as { contentSize?: number; hasChecksum: boolean };
      expect([h.contentSize, h.hasChecksum]).toEqual([content.length, true]);
      expect(zlib.zstdDecompressSync(out).equals(content)).toBe(true);
    }
  });

  it('keeps few blocks in flight: a slow reader holds the input back', async () => {
    const z = new ParallelZstd(1, 2, 16 * KiB);
    let written = 0;
    const src = Readable.from((function* () {
      for (let i = 0; i < 400; i++) {
        written += 16 * KiB;
        yield randomBytes(16 * KiB);
      }
    })());
    src.pipe(z);
    await new Promise((r) => setTimeout(r, 300)); // nobody reads
    expect(written).toBeLessThan(3 * MiB);
    src.destroy();
    z.destroy();
  });

  it('decodes with back-pressure too: a slow reader holds the stored bytes back', async () => {
    const stored = await compress(randomBytes(6 * MiB), 1, 256 * KiB);
    const d = new ZstdDecoder();
    let fed = 0;
    const src = Readable.from((function* () {
      for (const p of pieces(stored, 64 * KiB)) {
        fed += p.length;
        yield p;
      }
    })());
    src.pipe(d);
    await new Promise((r) => setTimeout(r, 300));
    expect(fed).toBeLessThan(3 * MiB);
    src.destroy();
    d.destroy();
  });
});

describe('zstd decoder, given damaged or hostile data', () => {
  it('refuses a stream cut inside a frame, wherever it is cut, naming the decompress check', async () => {
    const stored = await compress(mixed(300 * KiB));
    const starts: number[] = [];
    for (let i = stored.indexOf(MAGIC); i !== -1; i = stored.indexOf(MAGIC, i + 1)) starts.push(i);
    expect(starts.length).toBe(5);
    expect((await refusal(Buffer.alloc(0))).message).toMatch(/holds no zstd frame/);
    for (const start of starts) {
      for (const into of [1, 3, 4, 5, 9, 17]) {
        expect((await refusal(stored.subarray(0, start + into), 4096)).message).toMatch(/is cut off: the stream ends \d+ bytes into a frame/);
      }
    }
    expect((await refusal(stored.subarray(0, stored.length - 1))).message).toMatch(/cut off/);
    // Cut exactly between frames, it is a shorter valid stream, as a gzip file cut between members is: the manifest's
    // raw size is what catches that.
    expect((await decompress(stored.subarray(0, starts[2]))).length).toBe(2 * 64 * KiB);
  });

  it('names the frame a damaged block is in, however the stream is chunked', async () => {
    const stored = await compress(randomBytes(300 * KiB), 1, 64 * KiB);
    const starts: number[] = [];
    for (let i = stored.indexOf(MAGIC); i !== -1; i = stored.indexOf(MAGIC, i + 1)) starts.push(i);
    const b = Buffer.from(stored);
    // Raw (incompressible) blocks: a flipped byte in the third frame's body changes only its checksum.
    b[starts[2]! + 1000]! ^= 0x55;
    for (const chunk of [4096, 100 * KiB, stored.length]) {
      expect((await refusal(b, chunk)).message).toMatch(new RegExp(`zstd frame at byte ${starts[2]} does not decode`));
    }
  });

  it('refuses garbage, garbage after the last frame, and a stream of only skippable frames', async () => {
    const stored = await compress(mixed(10 * KiB));
    expect((await refusal(Buffer.from('this is not zstd at all'))).message).toMatch(/not zstd data/);
    expect((await refusal(Buffer.concat([stored, Buffer.from('tail')]))).message).toMatch(/garbage after the last frame/);
    const skippable = Buffer.from([0x50, 0x2a, 0x4d, 0x18, 2, 0, 0, 0, 0xaa, 0xbb]);
    expect((await refusal(skippable)).message).toMatch(/holds no zstd frame/);
  });

  it('reads hand-built frames (raw and RLE blocks) exactly as the format defines them', async () => {
    const f = frame([[0, 5, Buffer.from('hello')], [1, 100_000, Buffer.from('z')], [0, 0, Buffer.alloc(0)]]);
    expect((await decompress(f, 1)).equals(Buffer.concat([Buffer.from('hello'), Buffer.alloc(100_000, 'z')]))).toBe(true);
  });

  it('refuses, before decoding, frames whose headers no decoder may accept or whose window is over the bound', async () => {
    // A 1 GiB window with no content size: a decoder would have to keep 1 GiB of output.
    expect((await refusal(frame([[0, 1, Buffer.from('x')]], Buffer.from([0x00, 20 << 3])))).message).toMatch(/window of 1024 MiB, more than the 16 MiB reshifter reads/);
    // A frame bigger than the format allows per block, a reserved block type, a dictionary it does not have.
    expect((await refusal(frame([[0, MAX_BLOCK + 1, Buffer.alloc(MAX_BLOCK + 1)]]))).message).toMatch(/block of 131073 bytes/);
    expect((await refusal(frame([[3, 1, Buffer.from('x')]]))).message).toMatch(/reserved type/);
    expect((await refusal(frame([[0, 1, Buffer.from('x')]], Buffer.from([0x01, 0x38, 7])))).message).toMatch(/dictionary 7/);
    // zstd --long (a 128 MiB window): refused by its window, naming it, with what to run.
    const long = execFileSync('zstd', ['-1', '--long', '-c', '--size-hint=200000000'], { input: Buffer.alloc(20 * MiB, 'k'), maxBuffer: 64 * MiB });
    const limits = { maxWindow: 16 * MiB, advice: 'decompress it first ("zstd -d s.db.zst -o snapshot.db")' };
    const err = await through(new ZstdDecoder(limits), pieces(long)).then(() => undefined, (e: unknown) => e as IntegrityError);
    expect(err?.message).toMatch(/^decompress: the zstd data at byte 0 starts a frame with a window of 128 MiB, more than the 16 MiB reshifter reads \(zstd --long and --ultra levels write such windows\): decompress it first \("zstd -d s.db.zst -o snapshot.db"\)$/);
  });

  it('reads a frame of any content size whose window is within the bound, streaming: the zstd CLI\'s one frame of a big file', async () => {
    // Before: "starts a frame that declares 20971520 bytes of content: reshifter reads frames of up to 16 MiB".
    const input = mixed(20 * MiB);
    const big = execFileSync('zstd', ['-1', '-c', writeTempBin(input)], { maxBuffer: 64 * MiB });
    expect(frameCount(big)).toBe(1);
    expect((parseFrameHeader(big) as { contentSize?: number }).contentSize).toBe(20 * MiB);
    expect((await decompress(big)).equals(input)).toBe(true);
    // From a pipe: no content size; an RLE run of 25 MiB from 800 bytes decodes as well (what it may add up to is the
    // reader's to bound: a backup's rawSizeBytes, the work area's room).
    expect((await decompress(execFileSync('zstd', ['-3', '-c'], { input, maxBuffer: 64 * MiB }))).equals(input)).toBe(true);
    const run = frame(Array.from({ length: 200 }, () => [1, MAX_BLOCK, Buffer.from('A')] as [number, number, Buffer]));
    expect((await decompress(run)).equals(Buffer.alloc(200 * MAX_BLOCK, 'A'))).toBe(true);
    // A header that declares 1 TiB (8-byte content size) for one byte: libzstd checks the size at the frame's end.
    const huge = Buffer.alloc(10);
    huge[0] = 0xc0;
    huge[1] = 0x38;
    huge.writeBigUInt64LE(2n ** 40n, 2);
    expect((await refusal(frame([[0, 1, Buffer.from('x')]], huge))).message).toMatch(/zstd frame at byte 0 does not decode/);
  });

  it('survives 400 damaged streams: each decodes or is refused with the decompress check, nothing else', async () => {
    const input = mixed(200 * KiB);
    const stored = await compress(input, 3, 64 * KiB);
    let seed = 17;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    let refused = 0;
    let wrong = 0;
    for (let i = 0; i < 400; i++) {
      const b = Buffer.from(stored);
      const kind = i % 4;
      if (kind === 0) b[rand(b.length)] ^= 1 << rand(8);
      else if (kind === 1) for (let k = 0; k < 8; k++) b[rand(b.length)] = rand(256);
      else if (kind === 2) b.fill(rand(256), rand(b.length), rand(b.length));
      else b.writeUInt32LE(rand(2 ** 31), rand(b.length - 4));
      if (b.equals(stored)) continue;
      const out = await decompress(b, 4096).catch((e: unknown) => e);
      if (Buffer.isBuffer(out)) {
        if (!out.equals(input)) wrong++;
      } else {
        const err = out;
        expect(err, `mutant ${i}`).toBeInstanceOf(IntegrityError);
        expect((err as IntegrityError).check).toBe('decompress');
        refused++;
      }
    }
    // Every frame carries its size and checksum: no damage decodes to other bytes (a few change only what does not
    // matter, such as a window that is still big enough).
    expect(wrong).toBe(0);
    expect(refused).toBeGreaterThan(350);
  });
});

describe('zstd CLI interop', () => {
  it('reads a file zstd -d wrote back, and zstd -d reads ours from a file', async () => {
    const input = mixed(3 * MiB + 5);
    const ours = writeTemp(await compress(input, 1, 1 * MiB));
    execFileSync('zstd', ['-q', '-d', '-f', ours, '-o', join(work, 'out.bin')]);
    expect(readFileSync(join(work, 'out.bin')).equals(input)).toBe(true);
    expect(execFileSync('zstd', ['-t', ours]).length).toBe(0);
  });
});
