import { isUtf8 } from 'node:buffer';

/**
 * How etcd bytes (keys above all, which are arbitrary bytes) are printed, and read back from what was printed.
 *
 * The printed form is the text itself when it is UTF-8 without control characters. Otherwise each byte that is not
 * part of valid UTF-8, and each byte of a control character (C0 and C1 controls, DEL; format characters such as
 * bidi overrides; the line and paragraph separators) becomes `\xNN`, so tab and newline cannot fake columns and
 * lines, ESC cannot drive the terminal, and two different keys never print the same. A backslash is doubled (`\\`)
 * only where it could be read as the start of an escape: before `x`, another backslash or an escaped byte; so
 * `back\slash` prints as it is. `parsePrinted` reads any printed form back to the exact bytes.
 */

// Control characters, format characters (bidi overrides, zero-width), line and paragraph separators.
const CONTROL = /^[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]$/u;
const BACKSLASH = 0x5c;
const X = 0x78;

const hex = (b: number) => `\\x${b.toString(16).padStart(2, '0')}`;

/** The length of the valid UTF-8 sequence at `i`, or 0 when the byte there starts none (WHATWG's rules). */
function sequenceLength(bytes: Uint8Array, i: number): number {
  const b = bytes[i]!;
  if (b < 0x80) return 1;
  let n: number;
  let lo = 0x80;
  let hi = 0xbf;
  if (b >= 0xc2 && b <= 0xdf) n = 2;
  else if (b >= 0xe0 && b <= 0xef) {
    n = 3;
    if (b === 0xe0) lo = 0xa0;
    if (b === 0xed) hi = 0x9f;
  } else if (b >= 0xf0 && b <= 0xf4) {
    n = 4;
    if (b === 0xf0) lo = 0x90;
    if (b === 0xf4) hi = 0x8f;
  } else return 0;
  if (i + n > bytes.length) return 0;
  const second = bytes[i + 1]!;
  if (second < lo || second > hi) return 0;
  for (let k = 2; k < n; k++) if ((bytes[k + i]! & 0xc0) !== 0x80) return 0;
  return n;
}

/** Whether what is printed from byte `i` on starts with `\` or `x`: a backslash before it must be doubled. */
function startsEscapeLike(bytes: Uint8Array, i: number): boolean {
  if (i >= bytes.length) return false;
  const b = bytes[i]!;
  if (b === X || b === BACKSLASH) return true;
  const n = sequenceLength(bytes, i);
  return n === 0 || CONTROL.test(Buffer.from(bytes.buffer, bytes.byteOffset + i, n).toString('utf8'));
}

/** The printed form of etcd bytes (see the module comment); printable UTF-8 is returned as it is. */
export function printableBytes(bytes: Uint8Array): string {
  let i = 0;
  // The common key: printable ASCII without a backslash.
  while (i < bytes.length && bytes[i]! >= 0x20 && bytes[i]! < 0x7f && bytes[i] !== BACKSLASH) i++;
  const all = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  if (i === bytes.length) return all.toString('latin1');
  let out = all.toString('latin1', 0, i);
  while (i < bytes.length) {
    const b = bytes[i]!;
    if (b === BACKSLASH) {
      out += startsEscapeLike(bytes, i + 1) ? '\\\\' : '\\';
      i++;
      continue;
    }
    const n = sequenceLength(bytes, i);
    if (n === 0) {
      out += hex(b);
      i++;
      continue;
    }
    const ch = all.toString('utf8', i, i + n);
    if (CONTROL.test(ch)) for (let k = i; k < i + n; k++) out += hex(bytes[k]!);
    else out += ch;
    i += n;
  }
  return out;
}

/** Text from etcd (a key decoded already, an object name) as printed: `printableBytes` of its UTF-8. */
export function printable(text: string): string {
  return printableBytes(Buffer.from(text, 'utf8'));
}

const CONTROLS = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;
const ANY_CONTROL = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

/** Whether `text` holds a control character (as printableBytes escapes them): text no reshifter writes as a name. */
export function hasControlCharacters(text: string): boolean {
  return ANY_CONTROL.test(text);
}
const TERMINAL_CONTROLS = /(?![\n\t])[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;

/**
 * A message for a terminal, with each control character but newline and tab (which messages of several lines use) as
 * `\xNN` per UTF-8 byte: text from outside (an archive's entry names quoted by a library's error, a store's names)
 * can then neither drive the terminal (ESC, CSI) nor rewrite the line before it (CR). `keepLines` false: every control.
 */
export function terminalSafe(text: string, keepLines = true): string {
  return text.replace(keepLines ? TERMINAL_CONTROLS : CONTROLS, (c) => [...Buffer.from(c, 'utf8')].map(hex).join(''));
}

const isHex = (c: number) => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);

/**
 * The bytes a printed form stands for: `\xNN` (either case) is that byte, `\\` one backslash; any other character,
 * a backslash that starts neither included, is its UTF-8. The inverse of `printableBytes`, for any bytes.
 */
export function parsePrinted(text: string): Buffer {
  if (!text.includes('\\')) return Buffer.from(text, 'utf8');
  const utf8 = Buffer.from(text, 'utf8');
  const out = Buffer.alloc(utf8.length);
  let n = 0;
  for (let i = 0; i < utf8.length; i++) {
    const b = utf8[i]!;
    if (b === BACKSLASH && utf8[i + 1] === BACKSLASH) {
      out[n++] = BACKSLASH;
      i++;
    } else if (b === BACKSLASH && utf8[i + 1] === X && i + 3 < utf8.length && isHex(utf8[i + 2]!) && isHex(utf8[i + 3]!)) {
      out[n++] = Number.parseInt(utf8.toString('latin1', i + 2, i + 4), 16);
      i += 3;
    } else {
      out[n++] = b;
    }
  }
  return out.subarray(0, n);
}

/**
 * A key as JSON output carries it: `key` is its text when it is valid UTF-8; when it is not, `key` is the printed
 * form (which `inspect --get` takes) and `keyBase64` the exact bytes.
 */
export function keyFields(key: Uint8Array): { key: string; keyBase64?: string } {
  const buf = Buffer.from(key.buffer, key.byteOffset, key.length);
  return isUtf8(buf) ? { key: buf.toString('utf8') } : { key: printableBytes(buf), keyBase64: buf.toString('base64') };
}

/** The printed form of a key that JSON carried as `keyFields` made it (or as older listings did: text and base64). */
export function printedKey(fields: { key: string; keyBase64?: string }): string {
  return fields.keyBase64 !== undefined ? printableBytes(Buffer.from(fields.keyBase64, 'base64')) : printable(fields.key);
}
