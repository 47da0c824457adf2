import { IntegrityError } from '../core/errors.js';

/**
 * The small part of POSIX ustar (pax interchange format without extended headers) that key dumps need: regular
 * files with short, safe names. Written by hand: 512-byte headers, data padded to 512 bytes, two zero blocks at the end.
 */
export const BLOCK = 512;
/** The ustar size field holds 11 octal digits. */
export const MAX_TAR_ENTRY = 8 ** 11 - 1;
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,98}$/;
const ZERO_BLOCK = Buffer.alloc(BLOCK);
const EMPTY = Buffer.alloc(0);

/** One regular file of a tar stream. */
export interface TarEntry {
  name: string;
  data: Buffer;
  /** Modification time, seconds since the epoch. */
  mtime: number;
}

/** Writes `value` as `digits` octal digits, zero padded, at `offset` (GNU tar and bsdtar write them so). */
function octalInto(buf: Buffer, offset: number, digits: number, value: number): number {
  let sum = 0;
  for (let i = digits - 1; i >= 0; i--) {
    const d = value % 8;
    buf[offset + i] = 0x30 + d;
    sum += 0x30 + d;
    value = Math.floor(value / 8);
  }
  return sum;
}

/** True when a name that SAFE_NAME accepts may still hold an empty, `.` or `..` part. */
const MAYBE_DOT_OR_EMPTY_PART = /\/\.|\/\/|\/$/;

function checkEntry(name: string, size: number): void {
  if (!SAFE_NAME.test(name) || (MAYBE_DOT_OR_EMPTY_PART.test(name) && name.split('/').some((p) => p === '' || p === '.' || p === '..'))) {
    throw new RangeError(`tar entry name ${JSON.stringify(name)} is not a safe relative name`);
  }
  if (!Number.isSafeInteger(size) || size < 0 || size > MAX_TAR_ENTRY) throw new RangeError(`tar entry ${name} is ${size} bytes, beyond ustar's limit`);
}

/**
 * Writes ustar headers of regular files (mode 0600: dumps hold Secrets) with one mtime straight into a caller's
 * buffer: the constant fields are laid out once, and each header is that template plus its name, size and checksum.
 * A key dump writes two headers per key, so this is on the path of every raw backup.
 */
export class TarHeaderWriter {
  private readonly template = Buffer.alloc(BLOCK);
  /** Byte sum of the template with its name empty, size zero and checksum field as spaces. */
  private readonly templateSum: number;

  constructor(mtime: number) {
    const h = this.template;
    octalInto(h, 100, 7, 0o600); // mode, uid, gid: 7 digits and a NUL
    octalInto(h, 108, 7, 0);
    octalInto(h, 116, 7, 0);
    octalInto(h, 124, 11, 0); // size: 11 digits and a NUL
    octalInto(h, 136, 11, Math.max(0, Math.floor(mtime)));
    h.fill(0x20, 148, 156); // the checksum is computed with its own field as spaces
    h[156] = 0x30; // typeflag '0': a regular file
    h.write('ustar\u000000', 257, 8, 'ascii');
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += h[i]!;
    this.templateSum = sum;
  }

  /** Writes the 512-byte header of file `name` (`size` bytes) at `offset` of `buf`. */
  write(buf: Buffer, offset: number, name: string, size: number): void {
    checkEntry(name, size);
    this.template.copy(buf, offset);
    let sum = this.templateSum - 11 * 0x30;
    for (let i = 0; i < name.length; i++) {
      const c = name.charCodeAt(i); // SAFE_NAME: ASCII only
      buf[offset + i] = c;
      sum += c;
    }
    sum += octalInto(buf, offset + 124, 11, size);
    // The checksum field: 6 octal digits, NUL, space (it was counted as 8 spaces above).
    octalInto(buf, offset + 148, 6, sum);
    buf[offset + 154] = 0;
    buf[offset + 155] = 0x20;
  }
}

/** The 512-byte ustar header of a regular file (mode 0600: dumps hold Secrets). */
export function tarHeader(name: string, size: number, mtime: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  new TarHeaderWriter(mtime).write(h, 0, name, size);
  return h;
}

/** Bytes that `size` bytes of entry data take in the archive: padded to whole blocks. */
export function tarPadded(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK;
}

/** Zero bytes that pad `size` bytes of data to a whole block. */
export function tarPadding(size: number): Buffer {
  return ZERO_BLOCK.subarray(0, tarPadded(size) - size);
}

/** Header, data and padding of one regular file. */
export function tarEntry(name: string, data: Buffer, mtime: number): Buffer[] {
  return [tarHeader(name, data.length, mtime), data, tarPadding(data.length)];
}

/** The end-of-archive marker: two zero blocks. */
export function tarEnd(): Buffer {
  return Buffer.alloc(2 * BLOCK);
}

function fail(offset: number, why: string): never {
  throw new IntegrityError('content', `tar archive, byte ${offset}: ${why}`);
}

/** A numeric header field: optional leading spaces, 1 to 11 octal digits, then only NULs and spaces. */
function readOctal(h: Buffer, offset: number, width: number, field: string, at: number): number {
  const end = offset + width;
  let i = offset;
  while (i < end && h[i] === 0x20) i++;
  let value = 0;
  let digits = 0;
  for (; i < end && h[i]! >= 0x30 && h[i]! <= 0x37; i++, digits++) value = value * 8 + (h[i]! - 0x30);
  for (; i < end; i++) if (h[i] !== 0 && h[i] !== 0x20) digits = 0;
  if (digits < 1 || digits > 11) fail(at, `header field "${field}" is not an octal number`);
  return value;
}

/**
 * The checksum a header block must carry: the sum of its bytes with the checksum field counted as spaces; -1 for a
 * zero block (every byte zero, so a plain sum of 0). One unrolled pass: two headers per key of a dump come through here.
 */
export function headerSum(buf: Uint8Array, base: number): number {
  let sum = 0;
  for (let i = base; i < base + BLOCK; i += 8) sum += buf[i]! + buf[i + 1]! + buf[i + 2]! + buf[i + 3]! + buf[i + 4]! + buf[i + 5]! + buf[i + 6]! + buf[i + 7]!;
  if (sum === 0) return -1;
  for (let i = base + 148; i < base + 156; i++) sum -= buf[i]!;
  return sum + 8 * 0x20;
}

/** 'ustar', NUL, '00' at offset 257 (compared in place: a native compare per header cost more than its 8 bytes). */
function isUstar(h: Buffer, base: number): boolean {
  const at = base + 257;
  return h[at] === 0x75 && h[at + 1] === 0x73 && h[at + 2] === 0x74 && h[at + 3] === 0x61 && h[at + 4] === 0x72 && h[at + 5] === 0 && h[at + 6] === 0x30 && h[at + 7] === 0x30;
}

/** An entry being read: its header's fields, and its data as it arrives. Handed to `onEntry` once whole. */
interface Current extends TarEntry {
  size: number;
  got: number;
}

/** Parses and checks the header block at `base` of `buf`; undefined for a zero block. */
function parseHeader(buf: Buffer, base: number, at: number, maxSize: (name: string) => number): Current | undefined {
  const sum = headerSum(buf, base);
  if (sum < 0) return undefined;
  if (readOctal(buf, base + 148, 8, 'checksum', at) !== sum) fail(at, 'header checksum mismatch (corrupted, or not a tar archive)');
  if (!isUstar(buf, base)) fail(at, 'not a POSIX ustar header');
  const type = buf[base + 156]!;
  if (type !== 0x30 && type !== 0) fail(at, `entry type ${JSON.stringify(String.fromCharCode(type))} is not a regular file; key dumps hold only files`);
  if (buf[base + 345] !== 0) fail(at, 'long names (ustar prefix) are not used by key dumps');
  let end = base;
  while (end < base + 100 && buf[end] !== 0) end++;
  const name = buf.toString('latin1', base, end);
  if (!SAFE_NAME.test(name)) fail(at, `entry name ${JSON.stringify(name)} is not one reshifter writes`);
  const size = readOctal(buf, base + 124, 12, 'size', at);
  const limit = maxSize(name);
  if (size > limit) fail(at, `entry ${name} claims ${size} bytes, more than the ${limit} allowed for it`);
  return { name, data: EMPTY, mtime: readOctal(buf, base + 136, 12, 'mtime', at), size, got: 0 };
}

/**
 * A push parser for the ustar subset above: feed it bytes with `write`, get whole entries through `onEntry`, call
 * `end` when the input ends. Anything off (checksum, entry type, sizes, a missing end marker, data after it) throws an
 * IntegrityError naming the byte offset. Memory is bounded by the largest entry allowed by `maxSize`, and an entry's
 * memory is only taken once its bytes start to arrive (and becomes resident as they do), so a hostile size field costs
 * nothing.
 */
export class TarParser {
  private readonly header = Buffer.alloc(BLOCK);
  private headerFill = 0;
  private current?: Current;
  private pad = 0;
  private zeroBlocks = 0;
  private done = false;
  /** Bytes consumed so far. */
  offset = 0;

  constructor(
    private readonly onEntry: (entry: TarEntry) => void,
    private readonly maxSize: (name: string) => number,
  ) {}

  write(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.done) {
        // Blocking pads archives with zeros after the marker; anything else is not ours.
        for (; i < chunk.length; i++, this.offset++) if (chunk[i] !== 0) fail(this.offset, 'data after the end-of-archive marker');
        return;
      }
      if (this.pad > 0) {
        const n = Math.min(this.pad, chunk.length - i);
        if (chunk.compare(ZERO_BLOCK, 0, n, i, i + n) !== 0) {
          for (let j = 0; j < n; j++) if (chunk[i + j] !== 0) fail(this.offset + j, 'padding after an entry is not zero');
        }
        this.pad -= n;
        i += n;
        this.offset += n;
        continue;
      }
      const cur = this.current;
      if (cur) {
        // Copied as it arrives into a buffer of the entry's size: one copy, whatever the chunking. Taken when its first
        // bytes arrive, and without zeroing: the pages of a large entry become resident only as they are written.
        if (cur.got === 0) cur.data = Buffer.allocUnsafe(cur.size);
        const n = Math.min(cur.size - cur.got, chunk.length - i);
        chunk.copy(cur.data, cur.got, i, i + n);
        cur.got += n;
        i += n;
        this.offset += n;
        if (cur.got === cur.size) this.finishEntry();
        continue;
      }
      if (this.headerFill === 0 && chunk.length - i >= BLOCK) {
        // A whole header in this chunk: parsed where it lies.
        i += BLOCK;
        this.offset += BLOCK;
        this.takeHeader(chunk, i - BLOCK);
        continue;
      }
      const n = Math.min(BLOCK - this.headerFill, chunk.length - i);
      chunk.copy(this.header, this.headerFill, i, i + n);
      this.headerFill += n;
      i += n;
      this.offset += n;
      if (this.headerFill === BLOCK) {
        this.headerFill = 0;
        this.takeHeader(this.header, 0);
      }
    }
  }

  /** Call when the input has ended; throws unless the archive was complete. */
  end(): void {
    if (this.done) return;
    if (this.current) fail(this.offset, `the archive ends inside entry ${this.current.name} (${this.current.got} of ${this.current.size} bytes): cut short`);
    fail(this.offset, "the archive ends without tar's end-of-archive marker: cut short");
  }

  private takeHeader(buf: Buffer, base: number): void {
    const at = this.offset - BLOCK;
    const cur = parseHeader(buf, base, at, this.maxSize);
    if (cur === undefined) {
      this.zeroBlocks++;
      if (this.zeroBlocks === 2) this.done = true;
      return;
    }
    if (this.zeroBlocks > 0) fail(at, 'an entry follows a zero block (a broken end-of-archive marker)');
    this.current = cur;
    if (cur.size === 0) this.finishEntry();
  }

  private finishEntry(): void {
    const cur = this.current!;
    this.current = undefined;
    this.pad = tarPadded(cur.size) - cur.size;
    // The entry is the header's object itself: one object per entry rather than three.
    this.onEntry(cur);
  }
}
