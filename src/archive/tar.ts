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

/** One regular file of a tar stream. */
export interface TarEntry {
  name: string;
  data: Buffer;
  /** Modification time, seconds since the epoch. */
  mtime: number;
}

function octal(buf: Buffer, offset: number, width: number, value: number): void {
  // width-1 octal digits, zero padded, then NUL: what GNU tar and bsdtar write.
  buf.write(`${value.toString(8).padStart(width - 1, '0')}\0`, offset, width, 'ascii');
}

/** The 512-byte ustar header of a regular file (mode 0600: dumps hold Secrets). */
export function tarHeader(name: string, size: number, mtime: number): Buffer {
  if (!SAFE_NAME.test(name) || name.split('/').some((p) => p === '' || p === '.' || p === '..')) {
    throw new RangeError(`tar entry name ${JSON.stringify(name)} is not a safe relative name`);
  }
  if (!Number.isSafeInteger(size) || size < 0 || size > MAX_TAR_ENTRY) throw new RangeError(`tar entry ${name} is ${size} bytes, beyond ustar's limit`);
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, 'ascii');
  octal(h, 100, 8, 0o600);
  octal(h, 108, 8, 0);
  octal(h, 116, 8, 0);
  octal(h, 124, 12, size);
  octal(h, 136, 12, Math.max(0, Math.floor(mtime)));
  h.fill(0x20, 148, 156); // the checksum is computed with its own field as spaces
  h.write('0', 156, 1, 'ascii');
  h.write('ustar\u000000', 257, 8, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return h;
}

/** Zero bytes that pad `size` bytes of data to a whole block. */
export function tarPadding(size: number): Buffer {
  const rest = size % BLOCK;
  return rest === 0 ? Buffer.alloc(0) : ZERO_BLOCK.subarray(0, BLOCK - rest);
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

function readOctal(h: Buffer, offset: number, width: number, field: string, at: number): number {
  const text = h.toString('ascii', offset, offset + width).replace(/[\0 ]+$/, '').replace(/^ +/, '');
  if (!/^[0-7]{1,11}$/.test(text)) fail(at, `header field "${field}" is not an octal number`);
  return parseInt(text, 8);
}

/** Parses and checks one header block; undefined for a zero block. */
function parseHeader(h: Buffer, at: number, maxSize: (name: string) => number): { name: string; size: number; mtime: number } | undefined {
  if (h.equals(ZERO_BLOCK)) return undefined;
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
  if (readOctal(h, 148, 8, 'checksum', at) !== sum) fail(at, 'header checksum mismatch (corrupted, or not a tar archive)');
  if (h.toString('ascii', 257, 263) !== 'ustar\0' || h.toString('ascii', 263, 265) !== '00') fail(at, 'not a POSIX ustar header');
  const type = h[156]!;
  if (type !== 0x30 && type !== 0) fail(at, `entry type ${JSON.stringify(String.fromCharCode(type))} is not a regular file; key dumps hold only files`);
  if (h[345] !== 0) fail(at, 'long names (ustar prefix) are not used by key dumps');
  const end = h.indexOf(0);
  const name = h.toString('latin1', 0, end === -1 || end > 100 ? 100 : end);
  if (!SAFE_NAME.test(name)) fail(at, `entry name ${JSON.stringify(name)} is not one reshifter writes`);
  const size = readOctal(h, 124, 12, 'size', at);
  const limit = maxSize(name);
  if (size > limit) fail(at, `entry ${name} claims ${size} bytes, more than the ${limit} allowed for it`);
  return { name, size, mtime: readOctal(h, 136, 12, 'mtime', at) };
}

/**
 * A push parser for the ustar subset above: feed it bytes with `write`, get whole entries through `onEntry`, call
 * `end` when the input ends. Anything off (checksum, entry type, sizes, a missing end marker, data after it) throws an
 * IntegrityError naming the byte offset. Memory is bounded by the largest entry allowed by `maxSize`, and an entry's
 * memory is only taken as its bytes arrive, so a hostile size field costs nothing.
 */
export class TarParser {
  private readonly header = Buffer.alloc(BLOCK);
  private headerFill = 0;
  private current?: { name: string; size: number; mtime: number; chunks: Buffer[]; got: number };
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
        for (let j = 0; j < n; j++) if (chunk[i + j] !== 0) fail(this.offset + j, 'padding after an entry is not zero');
        this.pad -= n;
        i += n;
        this.offset += n;
        continue;
      }
      const cur = this.current;
      if (cur) {
        const n = Math.min(cur.size - cur.got, chunk.length - i);
        cur.chunks.push(chunk.subarray(i, i + n));
        cur.got += n;
        i += n;
        this.offset += n;
        if (cur.got === cur.size) this.finishEntry();
        continue;
      }
      const n = Math.min(BLOCK - this.headerFill, chunk.length - i);
      chunk.copy(this.header, this.headerFill, i, i + n);
      this.headerFill += n;
      i += n;
      this.offset += n;
      if (this.headerFill === BLOCK) this.takeHeader();
    }
  }

  /** Call when the input has ended; throws unless the archive was complete. */
  end(): void {
    if (this.done) return;
    if (this.current) fail(this.offset, `the archive ends inside entry ${this.current.name} (${this.current.got} of ${this.current.size} bytes): cut short`);
    fail(this.offset, "the archive ends without tar's end-of-archive marker: cut short");
  }

  private takeHeader(): void {
    this.headerFill = 0;
    const at = this.offset - BLOCK;
    const h = parseHeader(this.header, at, this.maxSize);
    if (h === undefined) {
      this.zeroBlocks++;
      if (this.zeroBlocks === 2) this.done = true;
      return;
    }
    if (this.zeroBlocks > 0) fail(at, 'an entry follows a zero block (a broken end-of-archive marker)');
    this.current = { ...h, chunks: [], got: 0 };
    if (h.size === 0) this.finishEntry();
  }

  private finishEntry(): void {
    const cur = this.current!;
    this.current = undefined;
    this.pad = (BLOCK - (cur.size % BLOCK)) % BLOCK;
    this.onEntry({ name: cur.name, data: Buffer.concat(cur.chunks, cur.size), mtime: cur.mtime });
  }
}
