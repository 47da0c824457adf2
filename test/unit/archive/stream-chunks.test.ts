import { PassThrough, Readable } from 'node:stream';
import { setImmediate as tick } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { streamChunks } from '../../../src/archive/stream-chunks.js';

describe('streamChunks', () => {
  it('hands out each chunk as it was pushed, never several joined, while the consumer lags', async () => {
    const pushed = Array.from({ length: 20 }, (_, i) => Buffer.alloc(1000 + i, i));
    const stream = new PassThrough({ highWaterMark: 64 * 1024 });
    // Everything is buffered before the first read: a byte stream's own iterator would give it as one Buffer.
    for (const c of pushed) stream.write(c);
    stream.end();
    await tick();
    const got: Buffer[] = [];
    for await (const chunk of streamChunks(stream)) {
      got.push(chunk);
      await tick();
    }
    expect(got.map((c) => c.length)).toEqual(pushed.map((c) => c.length));
    expect(Buffer.concat(got).equals(Buffer.concat(pushed))).toBe(true);
  });

  it('keeps back-pressure: a consumer that stops leaves the producer paused after a few chunks', async () => {
    let produced = 0;
    const stream = new Readable({
      highWaterMark: 1,
      read() {
        produced++;
        this.push(Buffer.alloc(1024));
      },
    });
    const it = streamChunks(stream)[Symbol.asyncIterator]();
    await it.next();
    for (let i = 0; i < 20; i++) await tick();
    expect(produced).toBeLessThan(8);
    await it.return?.(undefined);
    stream.destroy();
  });

  it('throws the stream error after the chunks before it, and a premature end', async () => {
    const failing = new PassThrough();
    failing.write(Buffer.from('a'));
    setTimeout(() => failing.destroy(new Error('disk gone')), 10);
    const got: string[] = [];
    await expect(
      (async () => {
        for await (const c of streamChunks(failing)) got.push(c.toString());
      })(),
    ).rejects.toThrow('disk gone');
    expect(got).toEqual(['a']);

    const cut = new PassThrough();
    setTimeout(() => cut.destroy(), 10);
    await expect(
      (async () => {
        for await (const _ of streamChunks(cut)) void _;
      })(),
    ).rejects.toThrow(/premature close/i);
  });
});
