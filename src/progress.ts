import type { Readable } from 'node:stream';
import { ByteCounter } from './archive/hash-counter.js';
import type { Logger } from './log.js';

const INTERVAL_MS = 5_000;
/** How often a log reporter looks whether INTERVAL_MS have passed without a line. */
const TICK_MS = 1_000;

/**
 * The silence a log reporter that just stopped leaves to the one started next: a command's phases follow each other
 * at once (download, decode, then the walk of `stats <id>`), and each phase counted its 5 s on its own, so three phases
 * of 4 s each were 12 s without a line. The next phase, started within a tick, goes on counting from there.
 */
let leftQuiet: { ms: number; at: number } | undefined;
/** The log reporters running now, each with the time it has counted without a line. */
const running = new Set<{ quiet: number }>();

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
export function reportProgress(
  log: Logger,
  what: string,
  read: () => { bytes: number; keys?: number; read?: number; pass?: number; scanned?: number },
  total?: number,
): () => void {
  const started = Date.now();
  const tty = process.stderr.isTTY === true;
  const line = () => {
    const { bytes, keys, ...more } = read();
    const secs = (Date.now() - started) / 1000;
    const rate = secs > 0 ? Math.round(bytes / secs) : 0;
    if (tty) {
      const pct = total ? ` ${Math.min(100, Math.floor((bytes / total) * 100))}%` : '';
      const k =
        (keys !== undefined ? ` ${keys} keys` : '') +
        (more.read !== undefined ? ` (${more.read} read)` : '') +
        (more.scanned !== undefined ? ` (${more.scanned} revisions scanned)` : '');
      process.stderr.write(`\r${what}: ${formatBytes(bytes)}${k} at ${formatBytes(rate)}/s${pct}   `);
    } else {
      log.info({ what, bytes, ...(keys !== undefined && { keys }), ...more, rate, ...(total && { total }) }, 'progress');
    }
  };
  if (tty) {
    const timer = setInterval(line, 500);
    timer.unref();
    return () => {
      clearInterval(timer);
      process.stderr.write('\r\x1b[K');
    };
  }
  return logEveryInterval(line);
}

/**
 * Calls `line` once INTERVAL_MS have passed without one, counting the silence the phase before left: leftQuiet, or,
 * when this phase started before that one's reporter stopped (a stream's 'close' comes after the next step began),
 * that reporter's silence handed over at its stop.
 */
function logEveryInterval(line: () => void): () => void {
  const me = { quiet: leftQuiet !== undefined && Date.now() - leftQuiet.at < TICK_MS ? leftQuiet.ms : 0 };
  leftQuiet = undefined;
  const runningBefore = new Set(running);
  running.add(me);
  const timer = setInterval(() => {
    me.quiet += TICK_MS;
    if (me.quiet < INTERVAL_MS) return;
    me.quiet = 0;
    line();
  }, TICK_MS);
  timer.unref();
  return () => {
    if (!running.delete(me)) return;
    clearInterval(timer);
    for (const next of running) if (!runningBefore.has(next)) next.quiet = Math.max(next.quiet, me.quiet);
    leftQuiet = { ms: me.quiet, at: Date.now() };
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
