import { createWriteStream } from 'node:fs';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crc32 } from 'node:zlib';
import yauzl, { type Entry, type ZipFile } from 'yauzl';
import { IntegrityError, OperationError, abortedBySignal, describeError } from '../core/errors.js';
import { printable } from '../core/printable.js';
import type { Logger } from '../log.js';
import { readCounted } from '../progress.js';
import { decodeCap, workAreaError } from './work-area.js';

/** The zip compression methods read: stored (0) and deflate (8), what k3s and every zip tool write. */
const METHODS: Readonly<Record<number, string>> = { 0: 'stored', 8: 'deflate' };

/**
 * Writes the one file of the zip archive at `path` (k3s's `etcd-snapshot save --compress`: `<name>.zip` holding the
 * snapshot) to `out` (0600, a new file in the work area `workDir`), streamed, and checks it as unzip does: its CRC-32
 * and its sizes against the central directory. A zip that holds no file or more than one, an encrypted entry, another
 * method than stored or deflate, or an archive that does not read (cut, damaged, multi-disk) is refused naming `name`
 * (the file as printed); the caller removes `out`. yauzl reads the central directory (zip64 too) and inflates; it
 * checks no CRC-32, which is done here. With `log`, an unzip that lasts reports `decode` progress (of the entry's size).
 * Stopped by a signal, it says so as `command` (the command that reads the zip: `stats of FILE stopped: ...`).
 */
export async function unzipSingleFile(path: string, name: string, out: string, workDir: string, signal: AbortSignal, log?: Logger, command = 'unzip'): Promise<void> {
  let zip: ZipFile;
  try {
    zip = await yauzl.openPromise(path, { autoClose: false, validateEntrySizes: true, strictFileNames: false });
  } catch (err) {
    throw new OperationError(`${name} is not a readable zip archive (cut or damaged?): ${describeError(err)}`, { cause: err });
  }
  try {
    const entry = await theOneFile(zip, name);
    // What the entry says it unzips to, refused at once when the work area cannot hold it; the bytes counted as they come.
    const cap = await decodeCap(workDir, name, { bytes: entry.uncompressedSize });
    let data;
    try {
      data = await zip.openReadStreamPromise(entry);
    } catch (err) {
      throw new OperationError(`${name}: cannot read ${printable(entry.fileName)} in the zip archive (cut or damaged?): ${describeError(err)}`, { cause: err });
    }
    try {
      const read = log ? readCounted(data, { log, what: 'decode', total: entry.uncompressedSize }) : data;
      await pipeline(read, new Crc32Check(entry, name), cap, createWriteStream(out, { mode: 0o600, flags: 'wx', highWaterMark: 1024 * 1024 }), { signal });
    } catch (err) {
      if (err instanceof OperationError) throw err;
      const full = workAreaError(err, workDir, `cannot unzip ${name}`);
      if (full !== err) throw full;
      const stopped = abortedBySignal(err, `${command} of ${name}`);
      if (stopped !== undefined) throw stopped;
      throw new OperationError(`${name}: ${printable(entry.fileName)} in the zip archive does not unzip (cut or damaged?): ${describeError(err)}`, { cause: err });
    }
  } finally {
    zip.close();
  }
}

/** The archive's one entry, when it is a file this reader can decode; anything else is refused naming `name`. */
async function theOneFile(zip: ZipFile, name: string): Promise<Entry> {
  const take = 'unzip it and give the snapshot file';
  if (zip.entryCount === 0) throw new OperationError(`${name} is a zip archive that holds no file: a k3s snapshot zip holds one, the snapshot`);
  let entry: Entry | undefined;
  try {
    entry = (await zip.eachEntry().next()).value as Entry | undefined;
  } catch (err) {
    throw new OperationError(`${name} is not a readable zip archive (cut or damaged?): ${describeError(err)}`, { cause: err });
  }
  if (entry === undefined) throw new OperationError(`${name} is a zip archive that holds no file: a k3s snapshot zip holds one, the snapshot`);
  const file = printable(entry.fileName);
  if (zip.entryCount > 1) {
    throw new OperationError(`${name} is a zip archive of ${zip.entryCount} entries (${file}, ...), not a k3s snapshot zip, which holds the one snapshot: ${take}`);
  }
  if (entry.fileName.endsWith('/')) throw new OperationError(`${name} is a zip archive that holds no file, only the folder ${file}`);
  if (entry.isEncrypted()) throw new OperationError(`${name}: ${file} in the zip archive is encrypted (a zip password), which is not read: ${take}`);
  const method = METHODS[entry.compressionMethod];
  if (method === undefined) {
    throw new OperationError(`${name}: ${file} in the zip archive is compressed with method ${entry.compressionMethod}; only stored (0) and deflate (8) are read: ${take}`);
  }
  return entry;
}

/** Passes an entry's bytes through and fails at the end when their CRC-32 or count is not the central directory's. */
class Crc32Check extends Transform {
  private crc = 0;
  private bytes = 0;
  constructor(private readonly entry: Entry, private readonly name: string) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.crc = crc32(chunk, this.crc);
    this.bytes += chunk.length;
    done(null, chunk);
  }

  override _flush(done: TransformCallback): void {
    const { entry, name } = this;
    if (this.bytes !== entry.uncompressedSize) {
      done(new IntegrityError('zip size', `${name}: ${printable(entry.fileName)} unzips to ${this.bytes} bytes, the archive says ${entry.uncompressedSize} (damaged)`));
    } else if (this.crc !== entry.crc32) {
      const hex = (n: number) => n.toString(16).padStart(8, '0');
      done(new IntegrityError('zip CRC-32', `${name}: ${printable(entry.fileName)} has CRC-32 ${hex(this.crc)}, the archive says ${hex(entry.crc32)} (damaged)`));
    } else {
      done();
    }
  }
}
