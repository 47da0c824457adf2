import { bytes, concat } from './fixtures.js';

// A tiny CBOR writer for tests. Kubernetes writes strings (and map keys) as byte strings, so that is the default.

type Value = string | number | boolean | null | Value[] | { [key: string]: Value };

function head(major: number, arg: number): number[] {
  if (arg < 24) return [(major << 5) | arg];
  if (arg < 0x100) return [(major << 5) | 24, arg];
  if (arg < 0x10000) return [(major << 5) | 25, arg >> 8, arg & 0xff];
  return [(major << 5) | 26, (arg >>> 24) & 0xff, (arg >> 16) & 0xff, (arg >> 8) & 0xff, arg & 0xff];
}

/** Encodes `value`; strings use major type 2 (bytes) unless `textStrings` is set. */
export function cbor(value: Value, textStrings = false): Uint8Array {
  if (value === null) return new Uint8Array([0xf6]);
  if (value === true) return new Uint8Array([0xf5]);
  if (value === false) return new Uint8Array([0xf4]);
  if (typeof value === 'number') {
    return new Uint8Array(value >= 0 ? head(0, value) : head(1, -1 - value));
  }
  if (typeof value === 'string') {
    const data = bytes(value);
    return concat(head(textStrings ? 3 : 2, data.length), data);
  }
  if (Array.isArray(value)) return concat(head(4, value.length), ...value.map((v) => cbor(v, textStrings)));
  const entries = Object.entries(value);
  return concat(head(5, entries.length), ...entries.flatMap(([k, v]) => [cbor(k, textStrings), cbor(v, textStrings)]));
}

/** The self-described CBOR tag Kubernetes puts in front of every stored CBOR object. */
export const SELF_DESCRIBED = [0xd9, 0xd9, 0xf7];
