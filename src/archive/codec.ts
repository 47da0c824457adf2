import { Transform, type Duplex, type TransformCallback } from 'node:stream';
import { Gunzip, constants, type ZlibOptions } from 'node:zlib';
import { ConfigError, IntegrityError, OperationError } from '../core/errors.js';
import { keyNeededText } from './encrypted-to.js';
import type { EncryptedTo, Manifest } from './manifest.js';
import { ParallelGzip } from './parallel-gzip.js';
import { ParallelZstd } from './parallel-zstd.js';
import { ZSTD_LIMITS, ZstdDecoder } from './zstd-decoder.js';

/** How stored bytes are encoded: compression, then encryption. Recorded in the manifest. */
export interface Codec {
  compression: Manifest['compression'];
  /** gzip level 1-9, zstd level 1-19. */
  level: number;
  encryption: Manifest['encryption'];
  /** With `age`: whom it is encrypted to (recorded in the manifest). */
  encryptedTo?: EncryptedTo;
}

/** Key material for the encryption step; the age codec is plugged in here. */
export interface CodecKeys {
  encrypt?: () => Duplex;
  /** Whom `encrypt` encrypts to: public keys or `passphrase`, for the manifest. */
  encryptedTo?: EncryptedTo;
  /**
   * Given whom the artifact was encrypted to, when its manifest says (named when no configured key fits); `file`: a
   * file on this machine, which has no manifest to say it.
   */
  decrypt?: (encryptedTo?: EncryptedTo, opts?: { file?: boolean }) => Duplex;
}

/** A new backup's codec: the configured compression, and age when a key to encrypt to is set (with whom, for the manifest). */
export function newCodec(compression: Codec['compression'], level: number, keys: CodecKeys): Codec {
  if (!keys.encrypt) return { compression, level, encryption: 'none' };
  return { compression, level, encryption: 'age', ...(keys.encryptedTo !== undefined && { encryptedTo: keys.encryptedTo }) };
}

/** A codec as its manifest records it: compression, encryption and, for age, whom it was encrypted to. */
export function manifestCodec(codec: Codec): Pick<Manifest, 'compression' | 'encryption' | 'encryptedTo'> {
  return { compression: codec.compression, encryption: codec.encryption, ...(codec.encryptedTo !== undefined && { encryptedTo: codec.encryptedTo }) };
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

/**
 * gunzip whose failures name the check: zlib's own errors ("incorrect data check", "unexpected end of file") are
 * IntegrityErrors of check `decompress`, so that every command reports a damaged artifact as such, never as a bug.
 */
class CheckedGunzip extends Gunzip {
  constructor(
    private readonly what: string,
    opts: ZlibOptions,
  ) {
    super(opts);
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    const code = (err as NodeJS.ErrnoException | null)?.code;
    const damaged = err !== null && !(err instanceof IntegrityError) && typeof code === 'string' && code.startsWith('Z_');
    super._destroy(damaged ? new IntegrityError('decompress', `${this.what} does not decompress: ${err.message} (its gzip data is damaged)`, { cause: err }) : err, cb);
  }
}

/**
 * Throws a ConfigError (exit 2) when the keys configured cannot even try to read an encrypted artifact: no identity
 * and no passphrase is a setting missing, not a damaged backup, and is said before anything is downloaded.
 */
export function assertReadable(codec: Pick<Codec, 'encryption' | 'encryptedTo'> & { id?: string; what?: string }, keys: CodecKeys): void {
  if (codec.encryption !== 'age' || keys.decrypt) return;
  const what = codec.what ?? (codec.id !== undefined ? `backup ${codec.id}` : 'this backup');
  const needed = keyNeededText(codec.encryptedTo) ?? 'set RS_ENCRYPTION_IDENTITY_FILE, RS_ENCRYPTION_IDENTITY or RS_ENCRYPTION_PASSPHRASE to read it';
  throw new ConfigError([`${what} is encrypted with age: ${needed}`]);
}

/**
 * The transforms that turn stored bytes back into content: decrypt, then decompress. `id` names the backup in errors
 * (`what` names something else: a file).
 */
export function decoders(
  codec: Pick<Codec, 'compression' | 'encryption' | 'encryptedTo'> & { id?: string; what?: string; rawSizeBytes?: number },
  keys: CodecKeys = {},
): Duplex[] {
  const out: Duplex[] = [];
  const what = codec.what ?? (codec.id !== undefined ? `backup ${codec.id}` : undefined);
  assertReadable(codec, keys);
  if (codec.encryption === 'age') out.push(keys.decrypt!(codec.encryptedTo, { file: codec.what !== undefined }));
  if (codec.compression === 'gzip') {
    // Z_SYNC_FLUSH tolerance is off: a truncated gzip must fail, not end quietly.
    out.push(new CheckedGunzip(what ?? 'the artifact', { chunkSize: GZIP_CHUNK, finishFlush: constants.Z_FINISH }));
  }
  // A file on the command line (`what`, no backup id) may be the zstd CLI's: one whose window is over the bound is
  // decompressed by zstd itself first.
  if (codec.compression === 'zstd') out.push(new ZstdDecoder(codec.what !== undefined && codec.id === undefined ? { ...ZSTD_LIMITS, advice: zstdFirst(codec.what) } : ZSTD_LIMITS));
  // A backup's manifest says what it decodes to: a few KB that inflate to gigabytes (anyone can write the store) are
  // stopped at the first byte past it, not decoded whole into memory or the work area before its size is compared.
  if (out.length > 0 && codec.rawSizeBytes !== undefined) out.push(new RawSizeCap(codec.rawSizeBytes, what ?? 'the artifact'));
  return out;
}

/** What decompresses the zstd file `name` (an age-encrypted one: `<name>.zst.age`) with the zstd CLI, for reshifter to read. */
function zstdFirst(name: string): string {
  const command = name.endsWith('.age') ? `age -d -i KEY ${name} | zstd -d -o snapshot.db` : `zstd -d ${name} -o snapshot.db`;
  return `decompress it first ("${command}") and give reshifter snapshot.db`;
}

/** Passes decoded bytes on, and fails (IntegrityError `raw-size`) at the first one past `limit`. */
class RawSizeCap extends Transform {
  private seen = 0;
  constructor(
    private readonly limit: number,
    private readonly what: string,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen <= this.limit) return cb(null, chunk);
    cb(new IntegrityError('raw-size', `${this.what} decodes to more than the ${this.limit} bytes its manifest says (rawSizeBytes): stopped there, the rest not decoded`));
  }
}
