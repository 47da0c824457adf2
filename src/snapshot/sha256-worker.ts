import { Worker } from 'node:worker_threads';

// Plain CommonJS run with `eval`, so the worker needs no build step or loader (it runs the same from src under
// vitest and from dist).
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const { createReadStream } = require('node:fs');
const hash = createHash('sha256');
const stream = createReadStream(workerData.path, { start: 0, end: workerData.end - 1, highWaterMark: 1 << 20 });
stream.on('data', (chunk) => hash.update(chunk));
stream.on('error', (err) => parentPort.postMessage({ error: String(err && err.message || err) }));
stream.on('end', () => parentPort.postMessage({ digest: hash.digest() }));
`;

/** sha256 of the first `end` bytes of a file, computed on a worker thread so it overlaps the caller's own work. */
export function sha256OnWorker(path: string, end: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { path, end } });
    worker.once('message', (msg: { digest?: Uint8Array; error?: string }) => {
      void worker.terminate();
      if (msg.digest) resolve(Buffer.from(msg.digest));
      else reject(new Error(`sha256 of ${path} failed: ${msg.error}`));
    });
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`sha256 worker exited with code ${code}`)));
  });
}
