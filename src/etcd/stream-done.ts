import type { Readable } from 'node:stream';

/** Resolves when `stream` has ended, rejects when it failed or was closed before its end. Never unhandled. */
export function whenEnded(stream: Readable): Promise<void> {
  const p = new Promise<void>((resolve, reject) => {
    stream.once('end', resolve);
    stream.once('error', reject);
    stream.once('close', () => {
      if (!stream.readableEnded) reject(new Error('the stream closed before it ended'));
    });
  });
  p.catch(() => undefined);
  return p;
}
