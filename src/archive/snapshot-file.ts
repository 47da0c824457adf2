import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { CodecKeys } from './codec.js';
import type { VerifiedCopy } from './local-copy.js';
import { SnapshotTrailerCheck } from './snapshot-trailer.js';

/**
 * Decodes (decrypts, decompresses) the verified copy of a snapshot backup into `snapshot.db` (0600) next to it, for
 * the offline reader, which needs a file to seek in. With `checkTrailer` the decoded stream must end in etcd's
 * matching sha256 trailer (IntegrityError `trailer` otherwise); without it, the reader reports the trailer's state.
 */
export async function decodeSnapshotCopy(
  copy: VerifiedCopy,
  keys: CodecKeys,
  opts: { checkTrailer?: boolean; signal?: AbortSignal } = {},
): Promise<string> {
  if (copy.dir === undefined) throw new Error('a snapshot read in place is its own file: there is nothing to decode');
  const db = join(copy.dir, 'snapshot.db');
  const checks: Duplex[] = opts.checkTrailer === false ? [] : [new SnapshotTrailerCheck()];
  await pipeline([copy.open(keys), ...checks, createWriteStream(db, { mode: 0o600, flags: 'wx' })], opts.signal ? { signal: opts.signal } : {});
  return db;
}
