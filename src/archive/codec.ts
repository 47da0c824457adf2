import type { Duplex } from 'node:stream';
import { constants, createGunzip } from 'node:zlib';
import { OperationError } from '../core/errors.js';
import type { Manifest } from './manifest.js';
import { ParallelGzip } from './parallel-gzip.js';
import { ParallelZstd } from './parallel-zstd.js';
import { ZstdDecoder } from './zstd-decoder.js';

/** How stored bytes are encoded: compression, then encryption. Recorded in the manifest. */
export interface Codec {
  compression: Manifest['compression'];
  /** gzip level 1-9, zstd level 1-19. */
  level: number;
  encryption: Manifest['encryption'];
}

/** Key material for the encryption step; the age codec is plugged in here. */
export interface CodecKeys {
  encrypt?: () => Duplex;
  decrypt?: () => Duplex;
}

const GZIP_CHUNK = 256 * 1024;

/** The transforms that turn content into stored bytes, in order: compress, then encrypt. */
export function encoders(codec: Codec, keys: CodecKeys = {}): Duplex[] {
  const out: Duplex[] = [];
  // Compression is the bottleneck of a compressed backup: spread it over the cores (one gzip member or zstd frame
  // per 1 MiB block).
  if (codec.compression === 'gzip') out.push(new ParallelGzip(codec.level));
  if (codec.compression === 'zstd') out.push(new ParallelZstd(codec.level));
  if (codec.encryption === 'age') {
    if (!keys.encrypt) throw new OperationError('encryption "age" requested but no recipients or passphrase are configured');
    out.push(keys.encrypt());
  }
  return out;
}

/** The transforms that turn stored bytes back into content: decrypt, then decompress. */
export function decoders(codec: Pick<Codec, 'compression' | 'encryption'>, keys: CodecKeys = {}): Duplex[] {
  const out: Duplex[] = [];
  if (codec.encryption === 'age') {
    if (!keys.decrypt) {
      throw new OperationError(
        'this backup is encrypted with age: set RS_ENCRYPTION_IDENTITY_FILE, RS_ENCRYPTION_IDENTITY or RS_ENCRYPTION_PASSPHRASE to read it',
      );
    }
    out.push(keys.decrypt());
  }
  if (codec.compression === 'gzip') {
    // Z_SYNC_FLUSH tolerance is off: a truncated gzip must fail, not end quietly.
    out.push(createGunzip({ chunkSize: GZIP_CHUNK, finishFlush: constants.Z_FINISH }));
  }
  if (codec.compression === 'zstd') out.push(new ZstdDecoder());
  return out;
}
