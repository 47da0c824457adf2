import { IntegrityError } from '../core/errors.js';
import { BLOCK, tarPadded } from './tar.js';

/**
 * A streaming reader of tar archives written by other programs (a container runtime's checkpoint archive): POSIX
 * ustar, pax extended headers (long names, sizes beyond 8 GiB), GNU long names and base-256 sizes, directories, links
 * and devices. Unlike tar.ts's parser (key dumps: regular files held whole in memory), it never holds an entry's data:
 * it hands each chunk to the caller as it passes and keeps only one header block and the small pax / long-name
 * records, so memory does not grow with the archive.
 */
export type TarWalkKind = 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';

export interface TarWalkEntry {
  /** The entry's name as stored (pax `path` or GNU long name applied; a directory's usually ends with `/`). */
  name: string;
  kind: TarWalkKind;
  /** The raw type flag (`0`, `5`, `2`, ...). */
  typeflag: string;
  /** Data bytes of the entry (0 for header-only types). */
  size: number;
  mode: number;
  mtime: number;
  linkname: string;
  /** Byte offset of the entry's header in the archive. */
  offset: number;
}

export interface TarWalkHandler {
  /** Called for each entry, at its header. */
  entry?(e: TarWalkEntry): void;
  /** The entry's data, in pieces as they arrive (views into the caller's chunk: copy what you keep). */
  data?(e: TarWalkEntry, piece: Buffer): void;
  /** Called when the entry's data is complete. */
  done?(e: TarWalkEntry): void;
}

/** pax and GNU long-name records are small; a bigger one is not a header. */
const MAX_META = 1024 * 1024;
const ZERO = Buffer.alloc(BLOCK);
/** Types whose size field says nothing about data (Go's archive/tar reads them so). */
const HEADER_ONLY = new Set(['1', '2', '3', '4', '5', '6']);

function fail(offset: number, why: string): never {
  throw new IntegrityError('content', `tar archive, byte ${offset}: ${why}`);
}

function cString(h: Buffer, start: number, width: number): string {
  const end = h.indexOf(0, start);
  return h.toString('utf8', start, end === -1 || end > start + width ? start + width : end);
}

/** A numeric field: octal digits between optional spaces/NULs, or GNU base-256 (high bit of the first byte set). */
function numeric(h: Buffer, start: number, width: number, field: string, at: number): number {
  if (h[start]! & 0x80) {
    if (h[start]! & 0x40) fail(at, `header field "${field}" is negative`);
    let v = h[start]! & 0x3f;
    for (let i = start + 1; i < start + width; i++) {
      v = v * 256 + h[i]!;
      if (!Number.isSafeInteger(v)) fail(at, `header field "${field}" is too large`);
    }
    return v;
  }
  const text = h.toString('latin1', start, start + width).replace(/[\0 ]+$/, '').replace(/^[ ]+/, '');
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) fail(at, `header field "${field}" is not an octal number`);
  return parseInt(text, 8);
}

function kindOf(typeflag: string): TarWalkKind {
  if (typeflag === '0' || typeflag === '\0' || typeflag === '7') return 'file';
  if (typeflag === '5') return 'directory';
  if (typeflag === '2') return 'symlink';
  if (typeflag === '1') return 'hardlink';
  return 'other';
}

/** Parses pax records (`"<len> key=value\n"` each) into a map. */
function paxRecords(data: Buffer, at: number): Map<string, string> {
  const out = new Map<string, string>();
  let i = 0;
  while (i < data.length) {
    if (data[i] === 0) break; // some writers pad the record block with NULs
    const space = data.indexOf(0x20, i);
    const len = space === -1 ? NaN : Number(data.toString('latin1', i, space));
    if (!Number.isSafeInteger(len) || len <= space - i + 1 || i + len > data.length || data[i + len - 1] !== 0x0a) fail(at, 'a pax extended header record is malformed');
    const rec = data.toString('utf8', space + 1, i + len - 1);
    const eq = rec.indexOf('=');
    if (eq <= 0) fail(at, 'a pax extended header record has no key');
    out.set(rec.slice(0, eq), rec.slice(eq + 1));
    i += len;
  }
  return out;
}

/**
 * Push parser: `write` chunks, `end` when the input ends. Throws an IntegrityError naming the byte offset on a bad
 * checksum, a malformed header or record, data after the end marker, or an archive cut short.
 */
export class TarWalker {
  /** Bytes consumed. */
  offset = 0;
  /** Entries seen (pax and long-name records not counted). */
  entries = 0;
  private readonly header = Buffer.alloc(BLOCK);
  private headerFill = 0;
  private current?: { entry: TarWalkEntry; left: number; meta?: { kind: 'x' | 'g' | 'L' | 'K'; parts: Buffer[] } };
  private pad = 0;
  private zeroBlocks = 0;
  private finished = false;
  private pax = new Map<string, string>();
  private longName?: string;
  private longLink?: string;

  constructor(private readonly handler: TarWalkHandler = {}) {}

  write(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.finished) {
        for (; i < chunk.length; i++, this.offset++) if (chunk[i] !== 0) fail(this.offset, 'data after the end-of-archive marker');
        return;
      }
      if (this.pad > 0) {
        const n = Math.min(this.pad, chunk.length - i);
        this.pad -= n;
        i += n;
        this.offset += n;
        continue;
      }
      const cur = this.current;
      if (cur) {
        const n = Math.min(cur.left, chunk.length - i);
        const piece = chunk.subarray(i, i + n);
        if (cur.meta) cur.meta.parts.push(Buffer.from(piece));
        else this.handler.data?.(cur.entry, piece);
        cur.left -= n;
        i += n;
        this.offset += n;
        if (cur.left === 0) this.finishEntry();
        continue;
      }
      const n = Math.min(BLOCK - this.headerFill, chunk.length - i);
      chunk.copy(this.header, this.headerFill, i, i + n);
      this.headerFill += n;
      i += n;
      this.offset += n;
      if (this.headerFill === BLOCK) {
        this.headerFill = 0;
        this.takeHeader(this.offset - BLOCK);
      }
    }
  }

  /** Call when the input has ended; throws unless the archive was complete. */
  end(): void {
    if (this.finished) return;
    if (this.current) fail(this.offset, `the archive ends inside entry ${JSON.stringify(this.current.entry.name)}: cut short`);
    fail(this.offset, "the archive ends without tar's end-of-archive marker: cut short");
  }

  private takeHeader(at: number): void {
    const h = this.header;
    if (h.equals(ZERO)) {
      if (++this.zeroBlocks === 2) this.finished = true;
      return;
    }
    if (this.zeroBlocks > 0) fail(at, 'an entry follows a zero block (a broken end-of-archive marker)');
    const stored = numeric(h, 148, 8, 'checksum', at);
    let unsigned = 8 * 0x20;
    let signed = 8 * 0x20;
    for (let j = 0; j < BLOCK; j++) {
      if (j >= 148 && j < 156) continue;
      unsigned += h[j]!;
      signed += h[j]! > 127 ? h[j]! - 256 : h[j]!;
    }
    if (stored !== unsigned && stored !== signed) fail(at, 'header checksum mismatch (corrupted, or not a tar archive)');
    const magic = h.toString('latin1', 257, 263);
    const typeflag = String.fromCharCode(h[156]!);
    let size = numeric(h, 124, 12, 'size', at);
    let name = cString(h, 0, 100);
    if (magic === 'ustar\0' && h[345] !== 0) name = `${cString(h, 345, 155)}/${name}`;
    if (typeflag === 'x' || typeflag === 'g' || typeflag === 'L' || typeflag === 'K') {
      if (size > MAX_META) fail(at, `a ${typeflag === 'x' || typeflag === 'g' ? 'pax' : 'GNU long name'} record of ${size} bytes is too large`);
      const entry: TarWalkEntry = { name, kind: 'other', typeflag, size, mode: 0, mtime: 0, linkname: '', offset: at };
      this.current = { entry, left: size, meta: { kind: typeflag, parts: [] } };
      if (size === 0) this.finishEntry();
      return;
    }
    const pax = this.pax;
    this.pax = new Map();
    if (this.longName !== undefined) name = this.longName;
    if (pax.has('path')) name = pax.get('path')!;
    let linkname = this.longLink ?? cString(h, 157, 100);
    if (pax.has('linkpath')) linkname = pax.get('linkpath')!;
    this.longName = undefined;
    this.longLink = undefined;
    if (pax.has('size')) {
      size = Number(pax.get('size'));
      if (!Number.isSafeInteger(size) || size < 0) fail(at, 'the pax size record is not a size');
    }
    if (HEADER_ONLY.has(typeflag)) size = 0;
    const entry: TarWalkEntry = {
      name,
      kind: kindOf(typeflag),
      typeflag,
      size,
      mode: numeric(h, 100, 8, 'mode', at),
      mtime: pax.has('mtime') ? Math.floor(Number(pax.get('mtime'))) : numeric(h, 136, 12, 'mtime', at),
      linkname,
      offset: at,
    };
    this.entries++;
    this.handler.entry?.(entry);
    this.current = { entry, left: size };
    if (size === 0) this.finishEntry();
  }

  private finishEntry(): void {
    const cur = this.current!;
    this.current = undefined;
    this.pad = tarPadded(cur.entry.size) - cur.entry.size;
    if (!cur.meta) {
      this.handler.done?.(cur.entry);
      return;
    }
    const data = Buffer.concat(cur.meta.parts);
    if (cur.meta.kind === 'x') this.pax = paxRecords(data, cur.entry.offset);
    else if (cur.meta.kind === 'g') paxRecords(data, cur.entry.offset); // global defaults: checked, not applied
    else {
      const end = data.indexOf(0);
      const text = data.toString('utf8', 0, end === -1 ? data.length : end);
      if (cur.meta.kind === 'L') this.longName = text;
      else this.longLink = text;
    }
  }
}
