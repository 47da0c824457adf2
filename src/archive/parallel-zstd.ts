import zlib from 'node:zlib';
import { COMPRESS_BLOCK, ParallelBlocks, defaultConcurrency } from './parallel-blocks.js';
import { xxh64 } from './zstd-binding.js';
import { withSizeAndChecksum } from './zstd-frame.js';
import { ZstdLanes } from './zstd-lanes.js';

/** Input is cut into blocks of this size; each becomes one zstd frame. */
export const ZSTD_BLOCK = COMPRESS_BLOCK;

/**
 * zstd on several cores: 1 MiB blocks compressed `concurrency` at a time on libuv's thread pool, each written as its
 * own frame, in order. Concatenated frames are one valid .zst file (RFC 8878): `zstd -d` reads it whole. Each frame
 * gets the block's size and checksum (a streaming encoder leaves both out): decoders check them, `zstd -d` too (as
 * gunzip checks a member's CRC), `zstd -l` shows the size, and a reader bounds each frame by its header before
 * decoding it. XXH64 of the block costs ~0.25 ms per MiB on this thread (@node-rs/xxhash).
 *
 * The frames come from `concurrency` long-lived libzstd contexts (Node's own zstd, see zstd-lanes.ts). The binding
 * used before (@toondepauw/node-zstd) made a context and a growing output vector per block on whichever pool thread
 * ran it: glibc kept each thread's high-water mark, ~40 MB of thread arenas at the peak of a raw backup where
 * gzip or no compression left ~20.
 */
export class ParallelZstd extends ParallelBlocks {
  private readonly lanes: ZstdLanes;

  constructor(level: number, concurrency = defaultConcurrency(), blockSize = ZSTD_BLOCK) {
    const lanes = new ZstdLanes(concurrency, () => new zlib.ZstdCompress({ chunkSize: LANE_CHUNK, params: { [zlib.constants.ZSTD_c_compressionLevel]: level } }));
    const hash = xxh64();
    super(async (block) => withSizeAndChecksum(await lanes.frame(block), block, (b) => hash(b)), concurrency, blockSize);
    this.lanes = lanes;
  }

  override _flush(cb: (error?: Error | null) => void): void {
    super._flush((err) => {
      this.lanes.close();
      cb(err);
    });
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.lanes.close();
    super._destroy(err, cb);
  }
}

/** Output pieces of a lane: a quarter block, so that a frame of Kubernetes data (3-5x smaller) is one or two pieces. */
const LANE_CHUNK = 256 * 1024;
