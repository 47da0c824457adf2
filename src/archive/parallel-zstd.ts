import { COMPRESS_BLOCK, ParallelBlocks, defaultConcurrency } from './parallel-blocks.js';
import { xxh64, zstdBinding } from './zstd-binding.js';
import { withSizeAndChecksum } from './zstd-frame.js';

/** Input is cut into blocks of this size; each becomes one zstd frame. */
export const ZSTD_BLOCK = COMPRESS_BLOCK;

/**
 * zstd on several cores: 1 MiB blocks compressed `concurrency` at a time on libuv's thread pool (the binding's async
 * calls), each written as its own frame, in order. Concatenated frames are one valid .zst file (RFC 8878): `zstd -d`
 * reads it whole. Each frame gets the block's size and checksum (the binding leaves both out): decoders check them,
 * `zstd -d` too (as gunzip checks a member's CRC), `zstd -l` shows the size, and a reader bounds each frame by its
 * header before decoding it. XXH64 of the block costs ~0.25 ms per MiB on this thread (@node-rs/xxhash).
 */
export class ParallelZstd extends ParallelBlocks {
  constructor(level: number, concurrency = defaultConcurrency(), blockSize = ZSTD_BLOCK) {
    const encoder = new (zstdBinding().Encoder)(level);
    const hash = xxh64();
    super(async (block) => withSizeAndChecksum(await encoder.encode(block), block, (b) => hash(b)), concurrency, blockSize);
  }
}
