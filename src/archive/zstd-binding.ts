import { createRequire } from 'node:module';
import { OperationError, describeError } from '../core/errors.js';

/** The native zstd binding (@toondepauw/node-zstd: libzstd through napi-rs, one prebuilt package per platform). */
export type ZstdBinding = typeof import('@toondepauw/node-zstd');
type XxhashBinding = typeof import('@node-rs/xxhash');

const requireCjs = createRequire(import.meta.url);
const loaded = new Map<string, unknown>();

/**
 * Loads a native package on first use: only zstd backups pay for it. A platform without its prebuilt package (the
 * install skipped optional dependencies, or an unsupported platform) gets an error that says what to do.
 */
function load<T>(name: string): T {
  if (loaded.has(name)) return loaded.get(name) as T;
  try {
    const mod = requireCjs(name) as T;
    loaded.set(name, mod);
    return mod;
  } catch (err) {
    throw new OperationError(
      `zstd is not available on ${process.platform}-${process.arch} (${describeError(err)}): install with optional dependencies (npm ci without --omit=optional), or set RS_COMPRESSION=gzip`,
      { cause: err },
    );
  }
}

/** libzstd's Encoder, whose async calls run on libuv's thread pool (decoding uses Node's own: zstd-decoder.ts). */
export const zstdBinding = (): ZstdBinding => load<ZstdBinding>('@toondepauw/node-zstd');

/** XXH64 (@node-rs/xxhash), the hash of zstd's content checksum. */
export const xxh64 = (): XxhashBinding['xxh64'] => load<XxhashBinding>('@node-rs/xxhash').xxh64;
