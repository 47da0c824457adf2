import { isUtf8 } from 'node:buffer';

/** The facts of a key's JSON line that a reader of the dump uses (the key itself comes as bytes beside them). */
export interface KeyFacts {
  /** Position in the archive (a key dump's keys, a segment's changes), from 1; the entry names carry it too. */
  n: number;
  valueSize: number;
  createRevision: number;
  modRevision: number;
  version: number;
  lease?: string;
  ttl?: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_CODES = Uint8Array.from(B64, (c) => c.charCodeAt(0));

/** Reads a line left to right; every method gives up (returns undefined / false) at anything unexpected. */
class Cursor {
  pos = 0;
  constructor(readonly b: Buffer) {}

  /** Consumes `text` (ASCII) if the line continues with it. */
  literal(text: string): boolean {
    if (this.pos + text.length > this.b.length) return false;
    for (let i = 0; i < text.length; i++) if (this.b[this.pos + i] !== text.charCodeAt(i)) return false;
    this.pos += text.length;
    return true;
  }

  /** A count as JSON writes it: digits without a leading zero, at most 15 (a safe integer). */
  count(): number | undefined {
    const start = this.pos;
    let v = 0;
    while (this.pos < this.b.length && this.b[this.pos]! >= 0x30 && this.b[this.pos]! <= 0x39) v = v * 10 + this.b[this.pos++]! - 0x30;
    const digits = this.pos - start;
    if (digits === 0 || digits > 15 || (digits > 1 && this.b[start] === 0x30)) return undefined;
    return v;
  }

  /**
   * Skips a JSON string without escapes or control characters (the opening quote consumed already): where its text
   * ends (the closing quote, consumed), or -1.
   */
  plainString(): number {
    for (; this.pos < this.b.length; this.pos++) {
      const c = this.b[this.pos]!;
      if (c === QUOTE) return this.pos++;
      if (c === BACKSLASH || c < 0x20) return -1;
    }
    return -1;
  }
}

/** True when b64 (bytes [start, end) of `line`) is exactly the canonical padded base64 of `key`. */
function isBase64Of(line: Buffer, start: number, end: number, key: Buffer): boolean {
  if (end - start !== Math.ceil(key.length / 3) * 4) return false;
  let o = start;
  for (let i = 0; i < key.length; i += 3, o += 4) {
    const rest = key.length - i;
    const v = (key[i]! << 16) | ((rest > 1 ? key[i + 1]! : 0) << 8) | (rest > 2 ? key[i + 2]! : 0);
    if (line[o] !== B64_CODES[v >> 18] || line[o + 1] !== B64_CODES[(v >> 12) & 63]) return false;
    if (line[o + 2] !== (rest > 1 ? B64_CODES[(v >> 6) & 63] : 0x3d)) return false;
    if (line[o + 3] !== (rest > 2 ? B64_CODES[v & 63] : 0x3d)) return false;
  }
  return true;
}

/**
 * Reads a key's JSON line exactly as keyMetaLine writes it for a UTF-8 key (`{"n":..,"key":"..","keyBase64":"..",
 * "valueSize":..,"createRevision":..,"modRevision":..,"version":..[,"lease":".."][,"ttl":..]}`), without JSON.parse,
 * strings or a base64 decode: the key is the bytes of its text in the line, checked against keyBase64 byte for
 * byte. Undefined for anything else (escapes, another order, a key that is not UTF-8, a value out of bounds): the
 * caller then parses the line as JSON, and its checks say what is wrong. What this accepts, that parse accepts alike.
 */
export function readCanonicalKeyMeta(line: Buffer, n: number, maxValueBytes: number): { meta: KeyFacts; key: Buffer } | undefined {
  const c = new Cursor(line);
  if (!c.literal('{"n":') || c.count() !== n || !c.literal(',"key":"')) return undefined;
  const keyStart = c.pos;
  const keyEnd = c.plainString();
  if (keyEnd <= keyStart || !c.literal(',"keyBase64":"')) return undefined;
  const b64Start = c.pos;
  const b64End = c.plainString();
  const key = line.subarray(keyStart, keyEnd);
  if (b64End < 0 || !isUtf8(key) || !isBase64Of(line, b64Start, b64End, key)) return undefined;
  const valueSize = c.literal(',"valueSize":') ? c.count() : undefined;
  const createRevision = c.literal(',"createRevision":') ? c.count() : undefined;
  const modRevision = c.literal(',"modRevision":') ? c.count() : undefined;
  const version = c.literal(',"version":') ? c.count() : undefined;
  if (valueSize === undefined || valueSize > maxValueBytes || createRevision === undefined || modRevision === undefined || version === undefined) return undefined;
  const meta: KeyFacts = { n, valueSize, createRevision, modRevision, version };
  if (c.literal(',"lease":"')) {
    const start = c.pos;
    const end = c.plainString();
    if (end <= start || end - start > 20) return undefined;
    for (let i = start; i < end; i++) if (line[i]! < 0x30 || line[i]! > 0x39) return undefined;
    meta.lease = line.toString('latin1', start, end);
  }
  if (c.literal(',"ttl":')) {
    const ttl = c.count();
    if (ttl === undefined) return undefined;
    meta.ttl = ttl;
  }
  if (!c.literal('}')) return undefined;
  // JSON.parse takes trailing whitespace: keyMetaLine ends the line with a newline.
  for (; c.pos < line.length; c.pos++) if (line[c.pos] !== 0x0a && line[c.pos] !== 0x20 && line[c.pos] !== 0x0d && line[c.pos] !== 0x09) return undefined;
  return { meta, key };
}
