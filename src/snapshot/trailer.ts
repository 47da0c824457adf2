import { createHash } from 'node:crypto';
import { TRAILER_SIZE, hasTrailerBySize, type FileSource } from './file-source.js';
import type { ChunkSink } from './page-scan.js';
import { inlineSha256Sink, prestartSha256Worker, workerSha256Sink, type Sha256Sink } from './sha256-sink.js';
import { sha256OnWorker } from './sha256-worker.js';

/** Whether the file carries etcd's sha256 trailer and whether it matches the data before it. */
export type TrailerState = 'absent' | 'match' | 'mismatch';

/** Below this a worker costs more to start than hashing on this thread. */
const WORKER_THRESHOLD = 16 * 1024 * 1024;

/** sha256 of the bbolt part compared with etcd's trailer; a worker thread hashes big files. `signal` stops it. */
export async function checkTrailer(source: FileSource, signal?: AbortSignal): Promise<TrailerState> {
  const trailer = await source.readTrailer();
  if (trailer === undefined) return 'absent';
  let digest: Buffer;
  if (source.dataSize >= WORKER_THRESHOLD) {
    digest = await sha256OnWorker(source.path, source.dataSize, signal);
  } else {
    const hash = createHash('sha256');
    for await (const chunk of source.chunks(0, source.dataSize)) {
      signal?.throwIfAborted();
      hash.update(chunk);
    }
    digest = hash.digest();
  }
  return digest.equals(trailer) ? 'match' : 'mismatch';
}

/**
 * Gets ready to check the trailer of a snapshot file of `fileSize` bytes: starts the hashing thread it will need
 * (one with a trailer, big enough to hash on a worker), so that starting it overlaps the caller's loading of the
 * reader and opening of the file. Cheap, and harmless when the check never comes.
 */
export function prepareTrailerCheck(fileSize: number): void {
  if (hasTrailerBySize(fileSize) && fileSize - TRAILER_SIZE >= WORKER_THRESHOLD) prestartSha256Worker();
}

/** A trailer check riding on the page scan: `sink` goes to scanPages, `result` is asked after it. */
export interface ScanTrailerCheck {
  sink: ChunkSink | undefined;
  /** The verdict; `scanned` says whether the scan fed the sink (it does not for files too big to scan). */
  result(scanned: boolean): Promise<TrailerState>;
  close(): void;
}

/**
 * Checks the trailer from the bytes the page scan reads anyway, so the file is read once. Only when the scan covers
 * exactly the hashed part (the usual snapshot: data is pgid * pageSize bytes); otherwise hashes separately.
 */
export function trailerCheckForScan(source: FileSource, scannedBytes: number): ScanTrailerCheck {
  if (!source.hasTrailer) {
    return { sink: undefined, result: () => Promise.resolve('absent'), close: () => undefined };
  }
  if (source.dataSize !== scannedBytes) {
    const separate = checkTrailer(source);
    separate.catch(() => undefined);
    return { sink: undefined, result: () => separate, close: () => undefined };
  }
  const sink: Sha256Sink = source.dataSize >= WORKER_THRESHOLD ? workerSha256Sink() : inlineSha256Sink();
  return {
    sink,
    async result(scanned) {
      if (!scanned) return checkTrailer(source);
      const [digest, trailer] = await Promise.all([sink.digest(), source.readTrailer()]);
      return trailer !== undefined && digest.equals(trailer) ? 'match' : 'mismatch';
    },
    close: () => sink.close(),
  };
}
