import { Readable, Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** Runs `input` (cut into pieces of `piece` bytes) through a transform and collects the output. */
export async function through(t: Transform, input: Buffer, piece = 10_000): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let i = 0; i < input.length; i += piece) parts.push(input.subarray(i, i + piece));
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(parts),
    t,
    new Writable({
      write(c: Buffer, _e, cb) {
        out.push(c);
        cb();
      },
    }),
  );
  return Buffer.concat(out);
}

/** A deterministic pseudo-random buffer. */
export function bytes(n: number, seed = 1): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

/** A fresh age X25519 key pair. */
export async function keyPair(): Promise<{ identity: string; recipient: string }> {
  const { generateX25519Identity, identityToRecipient } = await import('age-encryption');
  const identity = await generateX25519Identity();
  return { identity, recipient: await identityToRecipient(identity) };
}
