import { finished, type Readable } from 'node:stream';

/** Chunks taken from the stream ahead of the consumer before it is paused. */
const AHEAD = 2;

/**
 * The chunks of a byte stream one by one, as they were pushed, with back-pressure. A byte stream's own async iterator
 * reads whatever is buffered as one Buffer, concatenating (copying) the waiting chunks: a copy of every byte that
 * passes whenever the consumer is slower than the producer (a key restore waiting on etcd copied the whole decoded
 * dump again that way). Errors and a premature end are thrown once the chunks before them are taken.
 */
export async function* streamChunks(stream: Readable): AsyncGenerator<Buffer> {
  const queue: Buffer[] = [];
  let done = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const onData = (chunk: Buffer) => {
    queue.push(chunk);
    if (queue.length >= AHEAD) stream.pause();
    notify();
  };
  const cleanup = finished(stream, (err) => {
    failure = err ?? undefined;
    done = true;
    notify();
  });
  stream.on('data', onData);
  try {
    for (;;) {
      const chunk = queue.shift();
      if (chunk !== undefined) {
        if (queue.length < AHEAD && stream.isPaused() && !done) stream.resume();
        yield chunk;
        continue;
      }
      if (failure !== undefined) throw failure;
      if (done) return;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  } finally {
    stream.off('data', onData);
    cleanup();
  }
}
