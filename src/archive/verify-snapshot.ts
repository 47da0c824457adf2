import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline as pipelineCb, Transform, type Duplex, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describeError } from '../core/errors.js';
import { trackTempPath } from '../exit-cleanup.js';
import type { Logger } from '../log.js';
import { readCounted, reportProgress } from '../progress.js';
import { verifyFile, type VerifyCheck, type WalkWatch } from '../snapshot/index.js';
import { decoders, type CodecKeys } from './codec.js';
import { makeWorkDir } from './local-copy.js';
import type { Manifest } from './manifest.js';
import { verifyArtifact, type Check } from './verify-artifact.js';
import { isNoRoom, workAreaError } from './work-area.js';

/** Passes bytes through while writing them to a file too (with its back-pressure); ends once the file is written. */
class FileTee extends Transform {
  /** The file's error, if writing it failed. */
  failure: Error | undefined;

  constructor(private readonly out: WriteStream) {
    super();
    out.on('error', (err) => {
      this.failure = err;
      this.destroy(err);
    });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.out.write(chunk)) cb(null, chunk);
    else this.out.once('drain', () => cb(null, chunk));
  }

  override _flush(cb: TransformCallback): void {
    this.out.end(() => cb());
  }
}

/** A structural check of the snapshot file as a line of the verify report; warnings pass, saying so. */
export function snapshotCheck(c: VerifyCheck): Check {
  return { name: `snapshot ${c.name}`, ok: c.ok, detail: c.level === 'warn' ? `warning: ${c.detail}` : c.detail };
}

/** Where the snapshot's bytes are read: a file of a local store read in place, or a copy in the work area. */
export interface SnapshotPlace {
  /** The store's own file, holding the content as it is (no codec): walked where it is, without a copy. */
  inPlace?: string;
  /** RS_TMP_DIR: where the copy goes otherwise (default: the system's temporary folder). */
  workDir?: string;
  /** Where the decoding and the walk report their progress (`decode`, `walk`): they take tens of seconds at 4 GB. */
  log?: Logger;
}

/** The walk's progress for `log`: the bytes of the file it has read. */
export function walkWatch(log: Logger | undefined): WalkWatch | undefined {
  return log && ((bytesRead) => reportProgress(log, 'walk', () => ({ bytes: bytesRead() })));
}

/** The stream checks over the store's file, then the walk of that same file: nothing is written anywhere. */
async function verifyInPlace(stored: Readable, file: string, m: Manifest, keys: CodecKeys, signal?: AbortSignal, log?: Logger): Promise<Check[]> {
  const checks = await verifyArtifact(stored, m, keys, signal);
  if (!checks.every((c) => c.ok)) return checks;
  try {
    checks.push(...(await verifyFile(file, walkWatch(log), signal)).map(snapshotCheck));
  } catch (err) {
    checks.push({ name: 'snapshot walk', ok: false, detail: `could not walk the snapshot file: ${describeError(err)}` });
  }
  return checks;
}

/**
 * verifyArtifact for a snapshot backup, then a walk of the whole bbolt file (both meta pages, every page and
 * element within bounds, keys in order, etcd's key bucket: see src/snapshot/verify.ts). The stored bytes are read
 * from the store once, kept in a private temporary folder while they are checked, and decoded there for the walk
 * only when every stream check passed. The folder is deleted before returning. A work area without room for them
 * throws (OperationError naming it): that is no finding about the backup.
 */
export async function verifySnapshotArtifact(stored: Readable, m: Manifest, keys: CodecKeys, signal?: AbortSignal, place: SnapshotPlace = {}): Promise<Check[]> {
  if (place.inPlace !== undefined) return verifyInPlace(stored, place.inPlace, m, keys, signal, place.log);
  const workDir = place.workDir ?? tmpdir();
  const dir = await makeWorkDir(workDir, m);
  const release = trackTempPath(dir);
  // A work area with no room for the copy or the decoded file is not a failed check of the backup: verify cannot be done.
  const what = `cannot verify backup ${m.id}`;
  try {
    const storedCopy = join(dir, m.artifact);
    const tee = new FileTee(createWriteStream(storedCopy, { mode: 0o600, flags: 'wx', highWaterMark: 1024 * 1024 }));
    const teed = pipelineCb(stored, tee, () => undefined) as unknown as Readable;
    const checks = await verifyArtifact(teed, m, keys, signal);
    if (isNoRoom(tee.failure)) throw workAreaError(tee.failure, workDir, what);
    if (!checks.every((c) => c.ok)) return checks;
    const db = join(dir, 'snapshot.db');
    try {
      const steps: Duplex[] = decoders(m, keys);
      const copy = createReadStream(storedCopy);
      const read = place.log ? readCounted(copy, { log: place.log, what: 'decode', total: m.sizeBytes }) : copy;
      await pipeline([read, ...steps, createWriteStream(db, { mode: 0o600, flags: 'wx' })], signal ? { signal } : {});
      await rm(storedCopy, { force: true });
      checks.push(...(await verifyFile(db, walkWatch(place.log), signal)).map(snapshotCheck));
    } catch (err) {
      if (isNoRoom(err)) throw workAreaError(err, workDir, what);
      checks.push({ name: 'snapshot walk', ok: false, detail: `could not walk the snapshot file: ${describeError(err)}` });
    }
    return checks;
  } finally {
    await rm(dir, { recursive: true, force: true });
    release();
  }
}
