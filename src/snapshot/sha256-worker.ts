import { Worker } from 'node:worker_threads';

// Plain CommonJS run with `eval`, so the worker needs no build step or loader (it runs the same from src under
// vitest and from dist).
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { openSync, readSync, closeSync } = require('node:fs');
// Synchronous reads into one reused buffer: this thread does nothing else, and fresh buffers would cost a page
// fault per 4 KiB.
try {
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(4 << 20);
  const fd = openSync(workerData.path, 'r');
  try {
    for (let pos = 0; pos < workerData.end;) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, workerData.end - pos), pos);
      if (n === 0) throw new Error('file ended at offset ' + pos);
      hash.update(buf.subarray(0, n));
      pos += n;
    }
  } finally {
    closeSync(fd);
  }
  parentPort.postMessage({ digest: hash.digest() });
} catch (err) {
  parentPort.postMessage({ error: String((err && err.message) || err) });
}
`;

/**
 * sha256 of the first `end` bytes of a file, computed on a worker thread so it overlaps the caller's own work.
 * `signal` ends the worker at once (its synchronous loop never looks at one), rejecting with the signal's reason: a
 * stopped command must not wait for a hash of gigabytes to finish.
 */
export function sha256OnWorker(path: string, end: number, signal?: AbortSignal): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { path, end } });
    const abort = () => {
      reject(signal!.reason);
      void worker.terminate();
    };
    signal?.addEventListener('abort', abort, { once: true });
    const settle = () => signal?.removeEventListener('abort', abort);
    worker.once('message', (msg: { digest?: Uint8Array; error?: string }) => {
      settle();
      void worker.terminate();
      if (msg.digest) resolve(Buffer.from(msg.digest));
      else reject(new Error(`sha256 of ${path} failed: ${msg.error}`));
    });
    worker.once('error', (err) => {
      settle();
      reject(err);
    });
    worker.once('exit', (code) => {
      settle();
      reject(new Error(`sha256 worker exited with code ${code}`));
    });
  });
}
