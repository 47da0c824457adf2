import type { Readable } from 'node:stream';
import { ByteCounter } from './archive/hash-counter.js';
import type { Logger } from './log.js';

const INTERVAL_MS = 5_000;

/** Human units: 1536 -> "1.5 KiB". */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

/**
 * Reports a long transfer: a pino line `progress` every few seconds ({ bytes, rate }), or a one-line bar on
 * stderr when it is a terminal. Returns a function that stops reporting.
 */
export function reportProgress(log: Logger, what: string, read: () => { bytes: number; keys?: number; read?: number; pass?: number }, total?: number): () => void {
  const started = Date.now();
  const tty = process.stderr.isTTY === true;
  const tick = () => {
    const { bytes, keys, ...more } = read();
    const secs = (Date.now() - started) / 1000;
    const rate = secs > 0 ? Math.round(bytes / secs) : 0;
    if (tty) {
      const pct = total ? ` ${Math.min(100, Math.floor((bytes / total) * 100))}%` : '';
      const k = (keys !== undefined ? ` ${keys} keys` : '') + (more.read !== undefined ? ` (${more.read} read)` : '');
      process.stderr.write(`\r${what}: ${formatBytes(bytes)}${k} at ${formatBytes(rate)}/s${pct}   `);
    } else {
      log.info({ what, bytes, ...(keys !== undefined && { keys }), ...more, rate, ...(total && { total }) }, 'progress');
    }
  };
  const timer = setInterval(tick, tty ? 500 : INTERVAL_MS);
  timer.unref();
  return () => {
    clearInterval(timer);
    if (tty) process.stderr.write('\r\x1b[K');
  };
}

/**
 * `stream` as it is read, its bytes counted: `onBytes` is told the total so far, and with `log` a read that lasts is
 * reported as `what` (of `total` bytes) until the stream closes. An error of `stream` ends the returned one with it,
 * and the returned one destroyed destroys `stream`.
 */
export function readCounted(stream: Readable, opts: { log?: Logger | undefined; what: string; total?: number; onBytes?: (bytes: number) => void }): Readable {
  const counter = new ByteCounter(opts.onBytes);
  const stop = opts.log && reportProgress(opts.log, opts.what, () => ({ bytes: counter.bytes }), opts.total);
  if (stop) counter.once('close', stop);
  // Not stream.pipeline, which passes a source's error on only once that source has closed: an S3 download that gave
  // up on a server that stopped answering closes when its socket does, long after. An abandoned read closes its source.
  stream.once('error', (err) => counter.destroy(err));
  // The source can fail before the reader of the counter is attached (a store that sends more than a manifest's size
  // fails at its first chunk): the error stays on the counter (errored, destroyed) for that reader to find, instead of
  // crashing the process as an 'error' event nobody heard.
  counter.on('error', () => undefined);
  counter.once('close', () => {
    if (!stream.readableEnded) stream.destroy();
  });
  return stream.pipe(counter);
}
