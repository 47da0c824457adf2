import { BLOCK, MAX_TAR_ENTRY, tarPadded } from './tar.js';

/**
 * Headers of any entry type for the few tar archives that are not key dumps (OCI image archives, and the test's
 * stand-in for a runtime's checkpoint archive): directories, files of any size and mode. tar.ts's writer stays the
 * key dump's fast path (regular files, mode 0600, one template); this one writes a handful of headers per archive.
 * Files larger than ustar's 8 GiB limit carry their size in a POSIX pax extended header, as GNU tar and Go write it.
 */
export type TarEntryKind = 'file' | 'directory';

export interface TarHeaderFields {
  /** A relative name of at most 100 ASCII bytes (a directory's ends with `/`). */
  name: string;
  kind: TarEntryKind;
  /** Data bytes that follow (0 for a directory). */
  size: number;
  /** Permission bits, e.g. 0o644. */
  mode: number;
  /** Modification time, seconds since the epoch. */
  mtime: number;
}

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._:+@/-]{0,99}$/;

function octal(buf: Buffer, offset: number, width: number, value: number): void {
  // width - 1 digits and a NUL, zero padded, as GNU tar and Go write them.
  buf.write(`${Math.max(0, Math.floor(value)).toString(8).padStart(width - 1, '0')}\u0000`, offset, width, 'ascii');
}

function checkName(name: string): void {
  if (!SAFE_NAME.test(name) || name.split('/').some((p, i, all) => (p === '' && i !== all.length - 1) || p === '.' || p === '..')) {
    throw new RangeError(`tar entry name ${JSON.stringify(name)} is not a safe relative name of at most 100 bytes`);
  }
}

/** One 512-byte ustar header; `sizeField` is what the size field says (0 when a pax header carries the size). */
function ustar(f: TarHeaderFields, typeflag: string, sizeField: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(f.name, 0, 100, 'ascii');
  octal(h, 100, 8, f.mode);
  octal(h, 108, 8, 0);
  octal(h, 116, 8, 0);
  octal(h, 124, 12, sizeField);
  octal(h, 136, 12, f.mtime);
  h.fill(0x20, 148, 156);
  h.write(typeflag, 156, 1, 'ascii');
  h.write('ustar\u000000', 257, 8, 'ascii');
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i]!;
  h.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 8, 'ascii');
  return h;
}

/** A pax record `"<len> key=value\n"`, whose length counts its own digits. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return `${len}${body}`;
}

/**
 * The header blocks of one entry: a ustar header, preceded by a pax extended header (with its data, padded) when the
 * size does not fit ustar's 11 octal digits (or exceeds `paxAbove`, which tests lower to exercise that path on small
 * files). Throws a RangeError for an unsafe name or an impossible size.
 */
export function tarHeaders(f: TarHeaderFields, paxAbove = MAX_TAR_ENTRY): Buffer[] {
  checkName(f.name);
  if (f.kind === 'directory' && (f.size !== 0 || !f.name.endsWith('/'))) throw new RangeError(`tar directory ${f.name} must end with / and hold no data`);
  if (!Number.isSafeInteger(f.size) || f.size < 0) throw new RangeError(`tar entry ${f.name} cannot be ${f.size} bytes`);
  const type = f.kind === 'directory' ? '5' : '0';
  if (f.size <= Math.min(paxAbove, MAX_TAR_ENTRY)) return [ustar(f, type, f.size)];
  const record = Buffer.from(paxRecord('size', String(f.size)), 'ascii');
  const paxName = `PaxHeaders.0/${f.name.split('/').filter(Boolean).pop() ?? 'entry'}`.slice(0, 100);
  const pax = ustar({ name: paxName, kind: 'file', size: record.length, mode: 0o644, mtime: f.mtime }, 'x', record.length);
  return [pax, record, Buffer.alloc(tarPadded(record.length) - record.length), ustar(f, type, 0)];
}
