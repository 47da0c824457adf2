import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline as pipelineCb, Transform, type Duplex, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describeError } from '../core/errors.js';
import { trackTempPath } from '../exit-cleanup.js';
import { verifyFile, type VerifyCheck } from '../snapshot/index.js';
import { decoders, type CodecKeys } from './codec.js';
import type { Manifest } from './manifest.js';
import { verifyArtifact, type Check } from './verify-artifact.js';

/** Passes bytes through while writing them to a file too (with its back-pressure); ends once the file is written. */
class FileTee extends Transform {
  constructor(private readonly out: WriteStream) {
    super();
    out.on('error', (err) => this.destroy(err));
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

/**
 * verifyArtifact for a snapshot backup, then a walk of the whole bbolt file (both meta pages, every page and
 * element within bounds, keys in order, etcd's key bucket: see src/snapshot/verify.ts). The stored bytes are read
 * from the store once, kept in a private temporary folder while they are checked, and decoded there for the walk
 * only when every stream check passed. The folder is deleted before returning.
 */
export async function verifySnapshotArtifact(stored: Readable, m: Manifest, keys: CodecKeys, signal?: AbortSignal): Promise<Check[]> {
  const dir = await mkdtemp(join(tmpdir(), 'reshifter-'));
  const release = trackTempPath(dir);
  try {
    const storedCopy = join(dir, m.artifact);
    const tee = new FileTee(createWriteStream(storedCopy, { mode: 0o600, flags: 'wx', highWaterMark: 1024 * 1024 }));
    const teed = pipelineCb(stored, tee, () => undefined) as unknown as Readable;
    const checks = await verifyArtifact(teed, m, keys, signal);
    if (!checks.every((c) => c.ok)) return checks;
    const db = join(dir, 'snapshot.db');
    try {
      const steps: Duplex[] = decoders(m, keys);
      await pipeline([createReadStream(storedCopy), ...steps, createWriteStream(db, { mode: 0o600, flags: 'wx' })], signal ? { signal } : {});
      await rm(storedCopy, { force: true });
      checks.push(...(await verifyFile(db)).map(snapshotCheck));
    } catch (err) {
      checks.push({ name: 'snapshot walk', ok: false, detail: `could not walk the snapshot file: ${describeError(err)}` });
    }
    return checks;
  } finally {
    await rm(dir, { recursive: true, force: true });
    release();
  }
}
