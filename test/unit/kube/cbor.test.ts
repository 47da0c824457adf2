import { describe, it, expect } from 'vitest';
import { CborReader, decodeValue } from '../../../src/kube/index.js';
import { concat } from './fixtures.js';
import { cbor, SELF_DESCRIBED } from './cbor-encode.js';

const object = {
  apiVersion: 'example.com/v1',
  kind: 'Widget',
  metadata: {
    name: 'w',
    namespace: 'ns',
    uid: 'u-1',
    generation: 2,
    creationTimestamp: '2024-05-01T10:00:00Z',
    labels: { app: 'web' },
    annotations: { note: 'x' },
    ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'cm', uid: 'u-0', controller: true }],
    finalizers: ['f'],
  },
  spec: { replicas: 3, ports: [80, 443], enabled: true, ratio: null },
};

describe('decodeValue on CBOR values', () => {
  it('decodes the header of an object written with byte-string keys, as Kubernetes writes them', () => {
    const decoded = decodeValue(concat(SELF_DESCRIBED, cbor(object)));
    expect(decoded).toEqual({ encoding: 'cbor', apiVersion: object.apiVersion, kind: object.kind, metadata: object.metadata });
  });

  it('decodes text-string keys too', () => {
    const decoded = decodeValue(concat(SELF_DESCRIBED, cbor(object, true)));
    expect(decoded.metadata).toEqual(object.metadata);
  });

  it('gives the same result as the JSON encoding of the same object', () => {
    const fromJson = decodeValue(new TextEncoder().encode(JSON.stringify(object)));
    expect(decodeValue(concat(SELF_DESCRIBED, cbor(object)))).toEqual({ ...fromJson, encoding: 'cbor' });
  });

  it('recognises CBOR it cannot decode and says why', () => {
    expect(decodeValue(new Uint8Array(SELF_DESCRIBED))).toEqual({ encoding: 'cbor', error: 'cbor: truncated item at offset 3' });
    expect(decodeValue(concat(SELF_DESCRIBED, cbor([1, 2])))).toMatchObject({ encoding: 'cbor', error: expect.stringMatching(/expected a map/) });
    expect(decodeValue(concat(SELF_DESCRIBED, [0xbf, 0xff]))).toMatchObject({ error: expect.stringMatching(/indefinite-length/) });
    expect(decodeValue(concat(SELF_DESCRIBED, [0xa1, 0x41, 0x61, 0x5b, 0xff, 0, 0, 0, 0, 0, 0, 0]))).toMatchObject({
      error: expect.stringMatching(/exceeds the \d+ bytes that remain/),
    });
  });

  it('rejects a count larger than the bytes could hold before allocating', () => {
    const value = concat(SELF_DESCRIBED, [0xbb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    expect(decodeValue(value).error).toMatch(/count .* exceeds/);
  });

  it('stops at a nesting depth instead of overflowing the stack', () => {
    const deep = concat(SELF_DESCRIBED, [0xa1, 0x48, ...new TextEncoder().encode('metadata')], new Uint8Array(100_000).fill(0x81), [0]);
    expect(decodeValue(deep).error).toMatch(/nested deeper than/);
  });
});

describe('CborReader', () => {
  it('reads integers, negatives, floats and simple values', () => {
    const read = (...b: number[]) => new CborReader(new Uint8Array(b)).readValue();
    expect(read(0x17)).toBe(23);
    expect(read(0x19, 0x01, 0x00)).toBe(256);
    expect(read(0x1b, 0, 0, 0, 1, 0, 0, 0, 0)).toBe(2 ** 32);
    expect(read(0x38, 0x63)).toBe(-100);
    expect(read(0xf9, 0x3c, 0x00)).toBe(1);
    expect(read(0xfa, 0x3f, 0xc0, 0x00, 0x00)).toBe(1.5);
    expect(read(0xfb, 0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18)).toBe(Math.PI);
    expect(read(0xf4)).toBe(false);
    expect(read(0xf6)).toBe(null);
    expect(read(0xc1, 0x1a, 0x65, 0x00, 0x00, 0x00)).toBe(0x65000000); // a tagged epoch time reads as its number
  });

  it('names reserved and truncated heads', () => {
    expect(() => new CborReader(new Uint8Array([0x1c])).readValue()).toThrow('cbor: reserved additional information 28 at offset 0');
    expect(() => new CborReader(new Uint8Array([0x19, 0x01])).readValue()).toThrow('cbor: truncated argument at offset 0');
  });
});
