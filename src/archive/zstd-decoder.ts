import type { TransformCallback } from 'node:stream';
import zlib from 'node:zlib';
import { IntegrityError } from '../core/errors.js';
import { ZstdFrameCheck, type FrameLimits } from './zstd-frame.js';

/**
 * What a frame may be: a window of up to 16 MiB, what the decoder keeps of its output. reshifter writes 1 MiB frames;
 * `zstd` and `pzstd` write windows of up to 8 MiB at levels 1-19 (`zstd FILE` of a whole snapshot is one frame of any
 * size, read streaming), and a hostile header costs no more memory than that. `zstd --long` (128 MiB) and `--ultra`
 * levels write bigger windows. Until 2026-12-07 a frame's content was bounded at 16 MiB too, when each frame was
 * decoded whole into a buffer of its size; the streaming decoder keeps only the window.
 */
export const ZSTD_LIMITS: FrameLimits = { maxWindow: 16 * 1024 * 1024 };

/**
 * Output pieces. 256 KiB: a 100k-key dump's 284 MB decoded with 0.62 CPU-s and a peak RSS of ~147 MB (`verify`), where
 * a whole output buffer per 1 MiB frame (zlib.zstdDecompress on two threads) took 0.84 CPU-s and ~170 MB: every frame
 * allocated a fresh buffer of its bound (480 MB of short-lived buffers per restore) and a decoder of its own.
 */
const CHUNK = 256 * 1024;

/**
 * Streaming zstd decompression with bounded memory, by Node's own libzstd, one decoder for the whole stream: the
 * stream's frame and block headers are checked first (see ZstdFrameCheck, which refuses a frame whose window is over
 * `limits`, a dictionary, a block bigger than the format allows), and only bytes whose headers passed reach libzstd,
 * whose window is capped at the limit's. Memory is the window and the output pieces, whatever a frame decodes to: what
 * the whole output may be is bounded by the reader (a backup's rawSizeBytes, the work area's room for a file). libzstd
 * checks each frame's content size and checksum. Anything wrong with the data fails the stream with an IntegrityError
 * naming the `decompress` check.
 */
export class ZstdDecoder extends zlib.ZstdDecompress {
  private readonly check: ZstdFrameCheck;
  /** Stream offset of the frame libzstd is given: each is given on its own, so that a failure names its frame. */
  private decoding = 0;
  /** Bytes of the stream taken so far. */
  private taken = 0;

  constructor(limits: FrameLimits = ZSTD_LIMITS) {
    super({ chunkSize: CHUNK, params: { [zlib.constants.ZSTD_d_windowLogMax]: Math.ceil(Math.log2(limits.maxWindow)) } });
    this.check = new ZstdFrameCheck(limits);
  }

  override _transform(chunk: Buffer, enc: BufferEncoding, cb: TransformCallback): void {
    const under = this.check.frameOffset;
    let starts: number[];
    try {
      starts = this.check.push(chunk);
      // zlib decodes the stream's last chunk (or the empty one of its flush) as the end: a cut frame is said first.
      if (this.writableEnded && this.writableLength === chunk.byteLength) this.check.end();
    } catch (err) {
      return cb(err as Error);
    }
    const from = this.taken;
    this.taken += chunk.length;
    // Cut at the frames' starts: the first piece belongs to the frame under way before it, unless one starts there.
    const cuts = [0, ...starts.filter((i) => i > 0), chunk.length];
    const offset = (k: number) => (k === 0 && starts[0] !== 0 ? under : from + cuts[k]!);
    const step = (k: number): void => {
      this.decoding = offset(k);
      const last = k === cuts.length - 2;
      super._transform(chunk.subarray(cuts[k], cuts[k + 1]), enc, last ? cb : () => step(k + 1));
    };
    step(0);
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    const code = (err as NodeJS.ErrnoException | null)?.code;
    const damaged = err !== null && !(err instanceof IntegrityError) && typeof code === 'string' && /^(ZSTD_|Z_)/.test(code);
    super._destroy(damaged ? new IntegrityError('decompress', `the zstd frame at byte ${this.decoding} does not decode: ${err.message} (damaged data)`, { cause: err }) : err, cb);
  }
}
