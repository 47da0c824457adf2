import { createRequire } from 'node:module';
import { OperationError, describeError } from '../core/errors.js';

type XxhashBinding = typeof import('@node-rs/xxhash');

const requireCjs = createRequire(import.meta.url);
const loaded = new Map<string, unknown>();

/**
 * Loads a native package on first use: only zstd backups pay for it (libzstd itself is Node's: parallel-zstd.ts,
 * zstd-decoder.ts). A platform without its prebuilt package (the install skipped optional dependencies, or an
 * unsupported platform) gets an error that says what to do.
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

/** XXH64 (@node-rs/xxhash), the hash of zstd's content checksum. */
export const xxh64 = (): XxhashBinding['xxh64'] => load<XxhashBinding>('@node-rs/xxhash').xxh64;
