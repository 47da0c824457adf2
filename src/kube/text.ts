// One decoder for the whole process: constructing a TextDecoder per value is measurable over 100k+ values.
const decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

// Below this length a plain loop beats the TextDecoder call overhead, and most Kubernetes strings are short ASCII.
const ASCII_FAST_PATH_MAX = 48;

/** Decodes `bytes[start, end)` as UTF-8 without copying; invalid sequences become U+FFFD rather than throwing. */
export function utf8(bytes: Uint8Array, start = 0, end = bytes.length): string {
  const length = end - start;
  if (length <= 0) return '';
  if (length <= ASCII_FAST_PATH_MAX) {
    let text = '';
    let i = start;
    for (; i < end; i++) {
      const b = bytes[i]!;
      if (b >= 0x80) break;
      text += String.fromCharCode(b);
    }
    if (i === end) return text;
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
