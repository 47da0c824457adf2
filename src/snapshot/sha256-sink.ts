import { createHash } from 'node:crypto';
import type { Worker } from 'node:worker_threads';
import type { ChunkSink } from './page-scan.js';
import { takeWorker } from './sha256-thread.js';

export { prestartSha256Worker } from './sha256-thread.js';

/** A ChunkSink that computes sha256 of every chunk it is given, in order. */
export interface Sha256Sink extends ChunkSink {
  /** The digest of everything taken; call once, after the last chunk. */
  digest(): Promise<Buffer>;
  /** Releases the worker, if any (safe to call at any time, also after `digest`). */
  close(): void;
}

/** Hashes on this thread, synchronously: for small files, where starting a worker costs more than the hashing. */
export function inlineSha256Sink(): Sha256Sink {
  const hash = createHash('sha256');
  return {
    buffers: (count, bytes) => Array.from({ length: count }, () => Buffer.allocUnsafe(bytes)),
    take(chunk) {
      hash.update(chunk);
      return Promise.resolve();
    },
    digest: () => Promise.resolve(hash.digest()),
    close: () => undefined,
  };
}

/**
 * Hashes on a worker thread, reading the scan's buffers through shared memory: the file is read once for both the
 * bbolt walk and the sha256 trailer check, and the two run on separate cores.
 */
export function workerSha256Sink(): Sha256Sink {
  let worker: Worker | undefined;
  let memory: SharedArrayBuffer | undefined;
  let seq = 0;
  let failure: Error | undefined;
  const waiting = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  let finished: { resolve: (digest: Buffer) => void; reject: (err: Error) => void } | undefined;
  const fail = (err: Error): void => {
    failure ??= err;
    for (const w of waiting.values()) w.reject(err);
    waiting.clear();
    finished?.reject(err);
  };
  const start = (shared: SharedArrayBuffer): Worker => {
    const w = takeWorker();
    w.postMessage({ memory: shared });
    w.on('message', (m: { done?: number; digest?: Uint8Array }) => {
      if (m.done !== undefined) {
        waiting.get(m.done)?.resolve();
        waiting.delete(m.done);
      } else if (m.digest !== undefined) {
        finished?.resolve(Buffer.from(m.digest));
      }
    });
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`sha256 worker exited with code ${code}`)));
    return w;
  };
  return {
    buffers(count, bytes) {
      memory = new SharedArrayBuffer(count * bytes);
      worker = start(memory);
      return Array.from({ length: count }, (_, i) => Buffer.from(memory as SharedArrayBuffer, i * bytes, bytes));
    },
    take(chunk) {
      if (failure !== undefined) return Promise.reject(failure);
      const id = seq++;
      return new Promise<void>((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        worker?.postMessage({ seq: id, offset: chunk.byteOffset, length: chunk.length });
      });
    },
    digest() {
      if (failure !== undefined) return Promise.reject(failure);
      if (worker === undefined) return Promise.resolve(createHash('sha256').digest());
      return new Promise<Buffer>((resolve, reject) => {
        finished = { resolve, reject };
        worker?.postMessage({ end: true });
      });
    },
    close() {
      failure ??= new Error('sha256 sink closed');
      void worker?.terminate();
    },
  };
}
