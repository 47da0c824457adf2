import { describe, it, expect } from 'vitest';
import { decodeValue, type DecodedValue } from '../../../src/kube/index.js';
import { augerFile, bytes, concat } from './fixtures.js';
import { cbor, SELF_DESCRIBED } from './cbor-encode.js';

// mulberry32: tiny, seeded, and good enough to make failures reproducible from the iteration number.
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const ENCODINGS = new Set(['protobuf', 'json', 'cbor', 'encrypted', 'empty', 'other']);
const ITERATIONS = 2000;
describe('decodeValue under hostile input', () => {
  const seeds = [
    augerFile('storage-pod.bin'),
    augerFile('storage-job.bin'),
    augerFile('json-pod.json'),
    concat(SELF_DESCRIBED, cbor({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', labels: { x: 'y' } }, data: { k: 'v' } })),
    bytes('k8s:enc:aescbc:v1:key1:\x00\x01payload'),
  ];
  const magics = [[0x6b, 0x38, 0x73, 0x00], SELF_DESCRIBED, [0x7b], [...bytes('k8s:enc:')], []];

  function mutate(random: () => number, iteration: number): Uint8Array {
    const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)]!;
    const int = (max: number) => Math.floor(random() * max);
    const source = pick(seeds);
    switch (iteration % 4) {
      case 0:
        return source.subarray(0, int(source.length + 1));
      case 1: {
        const copy = new Uint8Array(source);
        for (let flips = 1 + int(8); flips > 0; flips--) copy[int(copy.length)]! ^= 1 << int(8);
        return copy;
      }
      case 2: {
        const copy = new Uint8Array(source);
        // Overwrite a run with 0xff: maximal varints and lengths wherever they land.
        const at = int(copy.length);
        copy.fill(0xff, at, at + 1 + int(12));
        return copy;
      }
      default: {
        const random_ = new Uint8Array(int(600));
        for (let i = 0; i < random_.length; i++) random_[i] = int(256);
        return concat(pick(magics), random_);
      }
    }
  }

  it(`never throws and always names an encoding, on ${ITERATIONS} mutated and random values (a decoder that loops ends at the test's timeout; speed is the bench's)`, () => {
    const random = prng(0x5eed);
    const counts: Record<string, number> = {};
    for (let i = 0; i < ITERATIONS; i++) {
      const value = mutate(random, i);
      let decoded: DecodedValue;
      try {
        decoded = decodeValue(value);
      } catch (err) {
        throw new Error(`iteration ${i} threw on ${Buffer.from(value).toString('hex')}: ${String(err)}`);
      }
      expect(ENCODINGS.has(decoded.encoding)).toBe(true);
      if (decoded.error !== undefined) expect(typeof decoded.error).toBe('string');
      counts[decoded.encoding] = (counts[decoded.encoding] ?? 0) + 1;
    }
    // The mutations must reach the decoders, not only the encoding detection.
    for (const encoding of ['protobuf', 'json', 'cbor', 'encrypted']) expect(counts[encoding]).toBeGreaterThan(50);
  });

  it('finds and reports errors in bit-flipped protobuf, not just in random bytes', () => {
    const random = prng(7);
    const pod = augerFile('storage-pod.bin');
    let errors = 0;
    for (let i = 0; i < 500; i++) {
      const copy = new Uint8Array(pod);
      copy[4 + Math.floor(random() * (copy.length - 4))]! ^= 0x80;
      if (decodeValue(copy).error !== undefined) errors++;
    }
    expect(errors).toBeGreaterThan(0);
  });
});
