import { createHash } from 'node:crypto';
import type { FileSource } from './file-source.js';
import { sha256OnWorker } from './sha256-worker.js';

/** Whether the file carries etcd's sha256 trailer and whether it matches the data before it. */
export type TrailerState = 'absent' | 'match' | 'mismatch';

/** Below this a worker costs more to start than hashing on this thread. */
const WORKER_THRESHOLD = 16 * 1024 * 1024;

/** sha256 of the bbolt part compared with etcd's trailer; a worker thread hashes big files next to the bbolt walk. */
export async function checkTrailer(source: FileSource): Promise<TrailerState> {
  const trailer = await source.readTrailer();
  if (trailer === undefined) return 'absent';
  let digest: Buffer;
  if (source.dataSize >= WORKER_THRESHOLD) {
    digest = await sha256OnWorker(source.path, source.dataSize);
  } else {
    const hash = createHash('sha256');
    for await (const chunk of source.chunks(0, source.dataSize)) hash.update(chunk);
    digest = hash.digest();
  }
  return digest.equals(trailer) ? 'match' : 'mismatch';
}
