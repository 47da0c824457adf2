// One decoder for the whole process: constructing a TextDecoder per value is measurable over 100k+ values.
const decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

// Below this length a plain ASCII check and a latin1 slice beat the TextDecoder call overhead, and most Kubernetes
// strings are short ASCII. (Building the text a character at a time, as this did, made a string per byte: per key of a
// restore, garbage for the collector.)
const ASCII_FAST_PATH_MAX = 48;

/** Decodes `bytes[start, end)` as UTF-8 without copying; invalid sequences become U+FFFD rather than throwing. */
export function utf8(bytes: Uint8Array, start = 0, end = bytes.length): string {
  const length = end - start;
  if (length <= 0) return '';
  if (length <= ASCII_FAST_PATH_MAX) {
    let i = start;
    while (i < end && bytes[i]! < 0x80) i++;
    // ASCII: its latin1 text is its UTF-8 text.
    if (i === end) return Buffer.from(bytes.buffer, bytes.byteOffset + start, length).toString('latin1');
  }
  return decoder.decode(bytes.subarray(start, end));
}

/** Sets `record[key]` as an own property, so a hostile `__proto__` key stays data instead of changing the prototype. */
export function setEntry<T>(record: Record<string, T>, key: string, value: T): void {
  if (key === '__proto__') {
    Object.defineProperty(record, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    record[key] = value;
  }
}
