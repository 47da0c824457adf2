import { Worker } from 'node:worker_threads';

// The hashing thread of workerSha256Sink (sha256-sink.ts), apart from it so that main.ts can start the thread before
// anything loads node:crypto on this thread (early-hash.ts): ~5 ms of Node's modules, which the thread's start then
// no longer waits for.

// CommonJS run with `eval`: no build step or loader, the same from src under vitest and from dist. It hashes the
// chunks the main thread read into shared memory (handed over in the first message, so the thread can be started
// before the memory exists), in order, and hands each buffer back when done.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const hash = createHash('sha256');
let memory;
parentPort.on('message', (m) => {
  if (m.memory) {
    memory = Buffer.from(m.memory);
    return;
  }
  if (m.end) {
    parentPort.postMessage({ digest: hash.digest() });
    parentPort.close();
    return;
  }
  hash.update(memory.subarray(m.offset, m.offset + m.length));
  parentPort.postMessage({ done: m.seq });
});
`;

/** A hashing thread started ahead of need, and what went wrong with it meanwhile. */
interface Spare {
  worker: Worker;
  failure?: Error;
}

let spare: Spare | undefined;

/**
 * Starts the thread of the next workerSha256Sink now. A worker takes tens of milliseconds to start (more under the
 * launcher's V8 heap flags, which make Node compile its own modules from source rather than use their code cache,
 * unless early-hash.ts set them back first); a caller about to load the reader and open a big snapshot overlaps that.
 * An unused one does not keep the process alive.
 */
export function prestartSha256Worker(): void {
  if (spare !== undefined) return;
  const s: Spare = { worker: new Worker(WORKER_SOURCE, { eval: true }) };
  s.worker.on('error', (err) => (s.failure ??= err));
  s.worker.on('exit', (code) => (s.failure ??= new Error(`sha256 worker exited with code ${code}`)));
  s.worker.unref();
  spare = s;
}

/** The prestarted thread when it is still sound, otherwise a new one. */
export function takeWorker(): Worker {
  const s = spare;
  spare = undefined;
  if (s !== undefined && s.failure === undefined) {
    s.worker.removeAllListeners();
    s.worker.ref();
    return s.worker;
  }
  if (s !== undefined) void s.worker.terminate();
  return new Worker(WORKER_SOURCE, { eval: true });
}

