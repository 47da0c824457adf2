/** Bytes `start` to `end` of a representation, both inclusive (as HTTP's Range counts them). */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * What a request's `Range` header asks of a representation of `size` bytes (RFC 9110 14.2): one range, the
 * whole (`undefined`: no header, another unit, several ranges, or a header that does not parse, all of which a server
 * may answer with the whole), or `'unsatisfiable'` (416: it starts at or past the end). `If-Range` that is not
 * `etag` (the backup changed since the part the client holds) asks for the whole too.
 */
export function requestedRange(range: string | undefined, ifRange: string | undefined, etag: string, size: number): ByteRange | 'unsatisfiable' | undefined {
  if (range === undefined) return undefined;
  if (ifRange !== undefined && ifRange.trim() !== etag) return undefined;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(range);
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    // The last N bytes.
    const n = Number(m[2]);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Number(m[2]);
  if (start >= size) return 'unsatisfiable';
  if (end < start) return undefined;
  return { start, end: Math.min(end, size - 1) };
}
