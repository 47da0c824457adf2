import { Transform, type TransformCallback } from 'node:stream';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { IntegrityError, describeError } from '../core/errors.js';
import { defaultConcurrency } from './parallel-blocks.js';
import { ZstdFrameSplitter, type FrameLimits, type SplitFrame } from './zstd-frame.js';

/**
 * What a frame may be: reshifter writes 1 MiB frames; 16 MiB also reads what `zstd` and `pzstd` write for files of
 * that size and for levels up to 19 (windows up to 8 MiB), while keeping a hostile header from costing more memory
 * than that per frame in flight.
 */
export const ZSTD_LIMITS: FrameLimits = { maxOutput: 16 * 1024 * 1024, maxWindow: 16 * 1024 * 1024 };

type Decode = (frame: SplitFrame) => Promise<Buffer>;

/**
 * Decodes one whole frame on libuv's thread pool with Node's own libzstd (`zlib.zstdDecompress`, in every Node 24):
 * it took 0.8 CPU-s for the 470 MB of a 100k-key dump where the binding that compresses (zstd-binding.ts), which
 * decodes through a stream into a growing buffer, took 2.0 (`zstd -d`: 0.35). Its output is capped at what the frame's
 * headers allow, and its window at the limit's.
 */
function frameDecoder(limits: FrameLimits): Decode {
  const decompress = promisify(zlib.zstdDecompress);
  const windowLogMax = Math.ceil(Math.log2(limits.maxWindow));
  return (frame) =>
    decompress(frame.bytes, {
      chunkSize: Math.max(64, Math.min(frame.outputBound, limits.maxOutput)),
      maxOutputLength: Math.max(1, frame.outputBound),
      params: { [zlib.constants.ZSTD_d_windowLogMax]: windowLogMax },
    });
}

/**
 * Streaming zstd decompression with bounded memory: the stream is cut into whole frames by their headers (see
 * ZstdFrameSplitter, which refuses a frame that could decode to more than `limits` allow), and `concurrency` frames
 * decode at once on libuv's thread pool, written out in order. Anything wrong with the data fails the stream with an
 * IntegrityError naming the `decompress` check.
 */
export class ZstdDecoder extends Transform {
  private readonly splitter: ZstdFrameSplitter;
  private readonly inFlight: Array<Promise<Buffer>> = [];
  private readonly decode: Decode;

  constructor(
    limits: FrameLimits = ZSTD_LIMITS,
    private readonly concurrency = defaultConcurrency(),
  ) {
    super({ readableHighWaterMark: 1024 * 1024 });
    this.splitter = new ZstdFrameSplitter(limits);
    this.decode = frameDecoder(limits);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    let frames: SplitFrame[];
    try {
      frames = this.splitter.push(chunk);
    } catch (err) {
      return cb(err as Error);
    }
    this.run(frames, false).then(() => cb(), cb);
  }

  override _flush(cb: TransformCallback): void {
    try {
      this.splitter.end();
    } catch (err) {
      return cb(err as Error);
    }
    this.run([], true).then(() => cb(), cb);
  }

  /** Starts decoding `frames`, writing out finished ones while `concurrency` are in flight (all of them at the end). */
  private async run(frames: SplitFrame[], end: boolean): Promise<void> {
    for (const frame of frames) {
      const job = this.decodeFrame(frame);
      job.catch(() => undefined); // awaited in order below; never unhandled meanwhile
      this.inFlight.push(job);
      while (this.inFlight.length > this.concurrency) this.push(await this.inFlight.shift()!);
    }
    if (end) while (this.inFlight.length > 0) this.push(await this.inFlight.shift()!);
  }

  private async decodeFrame(frame: SplitFrame): Promise<Buffer> {
    let out: Buffer;
    try {
      out = await this.decode(frame);
    } catch (err) {
      throw new IntegrityError('decompress', `the zstd frame at byte ${frame.offset} does not decode: ${describeError(err)}`, { cause: err });
    }
    // libzstd checks these itself; a frame that decodes to more than its headers allow must never pass unnoticed.
    if (out.length > frame.outputBound || (frame.contentSize !== undefined && out.length !== frame.contentSize)) {
      throw new IntegrityError('decompress', `the zstd frame at byte ${frame.offset} decoded to ${out.length} bytes, more or other than its headers say`);
    }
    return out;
  }
}
