import { crc32, inflateRawSync } from 'node:zlib';
import yauzl, { type Entry, type ZipFile } from 'yauzl';
import { AbortedError, IntegrityError, OperationError, describeError } from '../core/errors.js';
import type { KeyRecord, KeyStream } from '../core/key-record.js';
import { BlockReader } from './block-reader.js';
import { printableBytes as printable } from '../core/printable.js';
import { MAX_VALUE_BYTES } from './key-dump-format.js';

/**
 * A backup of the Go Reshifter (github.com/mhausenblas/reshifter, 2017-2018): `<id>.zip` (`<id>` the 10-digit Unix
 * time the backup began) written by its backup.store() and archivefile's zip.Archive: for every key, a file
 * `<id>/<key path>/content` holding the value as it was (an empty value an empty file), each `:` of the key written
 * as `ESC_COLON`; folders are not entries, keys under a v2 directory are its files; entries come in the order of
 * Go's filepath.Walk (each folder's names in byte order), deflated. Its restore walked the unzipped folder and put
 * every `content` file at the key of its folder. Nothing says whether the keys came from etcd's v2 or v3 API.
 */
export const ESC_COLON = 'ESC_COLON';
const CONTENT = 'content';
const ID = /^\d{10}$/;

/** What one archive may hold, so that a hostile zip is refused before its bytes are read. */
export interface GoZipLimits {
  entries: number;
  valueBytes: number;
}

/** Well over a Kubernetes cluster's keys (etcd's 8 GiB quota is some millions) and the largest value a dump holds. */
export const GO_ZIP_LIMITS: GoZipLimits = { entries: 5_000_000, valueBytes: MAX_VALUE_BYTES };

/** What the check of a whole archive found. */
export interface GoZipSummary {
  /** The backup id, the archive's one top folder. */
  id: string;
  keys: number;
  valueBytes: number;
  /** The first segment of the keys (`/registry`, `/openshift.io`), in the archive's order. */
  prefixes: string[];
}

/** True when the zip at `path` opens and its first entry is under a 10-digit folder, as the Go Reshifter writes. */
export async function isGoReshifterZip(path: string): Promise<boolean> {
  let zip: ZipFile | undefined;
  try {
    zip = await yauzl.openPromise(path, { autoClose: false, decodeStrings: false });
    const first = (await zip.eachEntry().next()).value as Entry | undefined;
    if (first === undefined) return false;
    const top = nameBytes(first).toString('latin1').split('/')[0]!;
    return ID.test(top);
  } catch {
    return false;
  } finally {
    zip?.close();
  }
}

/**
 * Checks the whole archive at `path` (printed as `name`) before anything is written: each entry's path, order,
 * method and size from the central directory, then its bytes against their CRC-32, one entry at a time. Returns
 * what it holds and a stream of its keys, read again (and checked again) at each pass of a restore; memory holds
 * one value at a time. Anything the Go Reshifter does not write is refused naming the entry. `onChecked` is told
 * the keys checked so far; `id`, the id it was asked for by, which its folder must be; `command`, what reads it
 * (restore, verify, stats, inspect), named when a stop (SIGTERM/SIGINT) interrupts it.
 */
export async function openGoReshifterZip(
  path: string,
  name: string,
  signal: AbortSignal,
  opts: { command: string; limits?: GoZipLimits; onChecked?: (s: GoZipSummary) => void; id?: string },
): Promise<{ summary: GoZipSummary; stream: KeyStream }> {
  const limits = opts.limits ?? GO_ZIP_LIMITS;
  const summary: GoZipSummary = { id: '', keys: 0, valueBytes: 0, prefixes: [] };
  const prefixes = new Set<string>();
  for await (const record of readKeys(path, name, signal, limits, summary, opts.command)) {
    summary.keys++;
    summary.valueBytes += record.value.length;
    opts.onChecked?.(summary);
    prefixes.add(record.key.toString('latin1').split('/')[1]!);
  }
  // Asked for by its id (`<id>.zip` of a store): the Go Reshifter's restore read the folder <id>/ of it, no other.
  if (opts.id !== undefined && summary.id !== opts.id) {
    throw new OperationError(`${name} holds backup ${summary.id} (its folder ${summary.id}/), not ${opts.id}: it was renamed, or is another backup; give it by its path to read it as it is`);
  }
  if (summary.keys === 0) throw new OperationError(`${name} holds no key: a backup of the Go Reshifter holds <id>/<key path>/content for each key`);
  summary.prefixes = [...prefixes].map((p) => `/${p}`);
  const stream: KeyStream = {
    header: { apiVersion: 'v3', etcdVersion: 'unknown', revision: 0, prefixes: summary.prefixes },
    records: () => readKeys(path, name, signal, limits, { ...summary }, opts.command),
  };
  return { summary, stream };
}

/** Entries read between two turns of the event loop (for signals and progress timers). */
const TURN_EVERY = 256;

/** One pass over the archive: each key with its value, every entry checked as it comes (see checkEntry), for `command`. */
async function* readKeys(path: string, name: string, signal: AbortSignal, limits: GoZipLimits, seen: GoZipSummary, command: string): AsyncGenerator<KeyRecord> {
  let zip: ZipFile;
  let reader: BlockReader;
  try {
    reader = BlockReader.open(path);
    const opened = reader;
    zip = await yauzl.fromRandomAccessReaderPromise(reader, reader.size, { autoClose: false, decodeStrings: false, validateEntrySizes: true }).catch((err: unknown) => {
      opened.close(() => undefined);
      throw err;
    });
  } catch (err) {
    throw new OperationError(`${name} is not a readable zip archive (cut or damaged?): ${describeError(err)}`, { cause: err });
  }
  try {
    if (zip.entryCount > limits.entries) {
      throw new OperationError(`${name} holds ${zip.entryCount} entries, more than the ${limits.entries} a backup of the Go Reshifter is read with`);
    }
    let previous: Buffer[] | undefined;
    const scratch: Scratch = { memory: Buffer.alloc(0) };
    const entries = zip.eachEntry();
    for (let n = 1; ; n++) {
      // The reads are synchronous (BlockReader) and settle as microtasks: without a turn of the event loop now and
      // then, a SIGTERM and the progress timer waited for the whole archive.
      if (n % TURN_EVERY === 0) await new Promise((resolve) => setImmediate(resolve));
      if (signal.aborted) throw new AbortedError(`${command} of ${name} interrupted (SIGTERM/SIGINT)`);
      const next = await entries.next().catch((err: unknown) => {
        throw new OperationError(`${name} is not a readable zip archive (cut or damaged?): ${describeError(err)}`, { cause: err });
      });
      if (next.done === true) return;
      const entry = next.value;
      const segments = checkEntry(entry, name, limits, seen);
      if (segments === undefined) continue;
      checkOrder(segments, previous, name, nameBytes(entry));
      previous = segments;
      yield { key: keyOf(segments), value: await readValue(zip, reader, entry, name, scratch), createRevision: 0, modRevision: 0, version: 0 };
    }
  } finally {
    zip.close();
  }
}

/** The entry's name as stored: bytes (the key's), never decoded as CP437. */
function nameBytes(entry: Entry): Buffer {
  const n = entry.fileName as unknown as Buffer | string;
  return typeof n === 'string' ? Buffer.from(n, 'latin1') : n;
}

/** `entry X` as printed in errors: the name's bytes, printable. */
function entryText(bytes: Buffer): string {
  return `entry ${printable(bytes)}`;
}

/**
 * The path segments of a key's value file (`<id>`, the key's segments, `content`), or undefined for a folder entry
 * (which the Go Reshifter never wrote, but zip tools do); anything else is refused naming the entry.
 */
function checkEntry(entry: Entry, name: string, limits: GoZipLimits, seen: GoZipSummary): Buffer[] | undefined {
  const bytes = nameBytes(entry);
  const text = bytes.toString('latin1');
  const bad = (why: string): never => {
    throw new OperationError(`${name}: ${entryText(bytes)} ${why}`);
  };
  const folder = text.endsWith('/');
  const segments = (folder ? text.slice(0, -1) : text).split('/');
  if (text.startsWith('/') || text.includes('\\') || segments.some((s) => s === '' || s === '.' || s === '..')) {
    bad('is not a path inside the archive (an absolute path, a backslash, an empty, "." or ".." segment), which the Go Reshifter never wrote');
  }
  if (text.includes('\0')) bad('has a NUL byte in its name');
  const id = segments[0]!;
  if (!ID.test(id)) bad('is not under a backup id folder (10 digits, as 1498050161/), where the Go Reshifter writes every key');
  if (seen.id === '') seen.id = id;
  else if (id !== seen.id) bad(`is under ${id}/, another backup than ${seen.id}/: one archive holds one backup`);
  if (folder) return undefined;
  if (segments[segments.length - 1] !== CONTENT) bad(`is not a key's value file: the Go Reshifter writes each value as <id>/<key path>/${CONTENT}`);
  if (segments.length < 3) bad(`is a value file without a key: it is the backup folder's own, not under a key's folder`);
  if (text.includes(':')) bad(`has a ":" in its path, which the Go Reshifter writes as ${ESC_COLON}`);
  // Unix file type in the high bits of the external attributes (made on Unix): a link's data is its target, not a value.
  if (entry.versionMadeBy >> 8 === 3 && ((entry.externalFileAttributes >>> 16) & 0o170000) === 0o120000) bad('is a symbolic link, which the Go Reshifter never wrote');
  if (entry.isEncrypted()) bad('is encrypted (a zip password), which the Go Reshifter never did');
  if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8) bad(`is compressed with method ${entry.compressionMethod}; only stored (0) and deflate (8) are read`);
  if (entry.uncompressedSize > limits.valueBytes) bad(`holds a value of ${entry.uncompressedSize} bytes, more than the ${limits.valueBytes} a key's value is read with`);
  // Deflate adds at most 5 bytes a 16 KiB block to what it cannot shrink.
  if (entry.compressedSize > entry.uncompressedSize + 1024 + entry.uncompressedSize / 1024) bad(`stores ${entry.compressedSize} bytes for a value of ${entry.uncompressedSize}, more than deflate ever does (damaged)`);
  return segments.slice(0, -1).map((s) => Buffer.from(s, 'latin1'));
}

/**
 * Entries come in filepath.Walk's order, folder by folder, names in byte order: each key's folder after the one
 * before. A key that comes again is a duplicate; one out of that order is not as the Go Reshifter wrote it, and
 * would let a duplicate through unseen (memory keeps only the key before, never every key).
 */
function checkOrder(segments: Buffer[], previous: Buffer[] | undefined, name: string, bytes: Buffer): void {
  if (previous === undefined) return;
  const order = compareSegments(segments, previous);
  if (order > 0) return;
  const key = printable(keyOf(segments));
  if (order === 0) throw new OperationError(`${name}: ${entryText(bytes)} is a second value of the key ${key} (a duplicate key)`);
  throw new OperationError(
    `${name}: ${entryText(bytes)} (key ${key}) comes after the key ${printable(keyOf(previous))}, out of the order the Go Reshifter writes ` +
      `(its folders walked in name order): the archive was changed or zipped again by another tool`,
  );
}

/** The order of two entries' folders as filepath.Walk visits them: segment by segment, bytes compared. */
function compareSegments(a: Buffer[], b: Buffer[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const c = Buffer.compare(a[i]!, b[i]!);
    if (c !== 0) return c;
  }
  return a.length - b.length;
}

/** The etcd key of a value file's folder: `/` and its segments after the id, `ESC_COLON` back to `:`. */
function keyOf(segments: Buffer[]): Buffer {
  const text = `/${segments.slice(1).map((s) => s.toString('latin1')).join('/')}`;
  return Buffer.from(text.split(ESC_COLON).join(':'), 'latin1');
}

/** Memory reused by one pass for the stored bytes of deflated values. */
interface Scratch {
  memory: Buffer;
}

function scratchOf(scratch: Scratch, bytes: number): Buffer {
  if (scratch.memory.length < bytes) scratch.memory = Buffer.allocUnsafe(Math.max(bytes, 2 * scratch.memory.length, 64 * 1024));
  return scratch.memory.subarray(0, bytes);
}

/**
 * The entry's value, inflated and checked against its size and CRC-32 in the central directory. Values are small
 * (etcd takes 1.5 MiB a request by default): the stored bytes are read whole into one buffer, straight from the
 * reader's blocks, and inflated in one call, at most to the size the archive gives (checkEntry bounded it), which costs
 * far less a key than a stream and an inflater each (and than a stream's copies of a 1 MB Helm release, joined again).
 */
async function readValue(zip: ZipFile, reader: BlockReader, entry: Entry, name: string, scratch: Scratch): Promise<Buffer> {
  const what = `${name}: ${entryText(nameBytes(entry))}`;
  let value: Buffer;
  try {
    const { fileDataStart } = await zip.readLocalFileHeaderPromise(entry, { minimal: true });
    // A deflated value's stored bytes are only the inflater's input: read into memory reused from value to value.
    const stored = entry.compressionMethod === 0 ? Buffer.allocUnsafe(entry.compressedSize) : scratchOf(scratch, entry.compressedSize);
    reader.readInto(stored, fileDataStart);
    value = entry.compressionMethod === 0 ? stored : inflateRawSync(stored, { maxOutputLength: Math.max(1, entry.uncompressedSize) });
  } catch (err) {
    throw new OperationError(`${what} does not unzip (cut or damaged?): ${describeError(err)}`, { cause: err });
  }
  if (value.length !== entry.uncompressedSize) throw new IntegrityError('zip size', `${what} unzips to ${value.length} bytes, the archive says ${entry.uncompressedSize} (damaged)`);
  const crc = crc32(value);
  if (crc !== entry.crc32) {
    const hex = (n: number) => n.toString(16).padStart(8, '0');
    throw new IntegrityError('zip CRC-32', `${what} has CRC-32 ${hex(crc)}, the archive says ${hex(entry.crc32)} (damaged)`);
  }
  return value;
}
