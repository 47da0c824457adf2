import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { IntegrityError } from '../core/errors.js';
import { TRAILER_SIZE as TRAILER, hasTrailerBySize } from '../snapshot/file-source.js';

/**
 * Passes an etcd snapshot through unchanged while checking etcd's trailer: the file is db || sha256(db), and
 * db is a whole number of 512-byte multiples (bbolt pages). A missing or wrong trailer fails the stream, so a
 * snapshot cut short or corrupted on the way is never stored as good.
 */
export class SnapshotTrailerCheck extends Transform {
  bytes = 0;
  private readonly hash: Hash = createHash('sha256');
  private tail: Buffer = Buffer.alloc(0);
  private full?: string;

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    // Hash everything except the last 32 bytes seen so far; those may be the trailer.
    if (chunk.length >= TRAILER) {
      if (this.tail.length > 0) this.hash.update(this.tail);
      this.hash.update(chunk.subarray(0, chunk.length - TRAILER));
      this.tail = Buffer.from(chunk.subarray(chunk.length - TRAILER));
    } else {
      const joined = Buffer.concat([this.tail, chunk]);
      const cut = Math.max(0, joined.length - TRAILER);
      if (cut > 0) this.hash.update(joined.subarray(0, cut));
      this.tail = joined.subarray(cut);
    }
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    if (this.bytes < 2 * 512 + TRAILER || !hasTrailerBySize(this.bytes)) {
      cb(new IntegrityError('trailer', `the snapshot is ${this.bytes} bytes, which is not a bbolt file followed by etcd's 32-byte sha256 trailer (cut short?)`));
      return;
    }
    const expected = this.hash.copy().digest();
    if (!expected.equals(this.tail)) {
      cb(new IntegrityError('trailer', "the snapshot's sha256 does not match etcd's trailer (corrupted in transit or at rest)"));
      return;
    }
    // The same pass gives the sha256 of the whole file (db || trailer), so nobody needs to hash it again.
    this.hash.update(this.tail);
    this.full = this.hash.digest('hex');
    cb();
  }

  /** sha256 (hex) of every byte that passed (the database and its trailer); valid once the stream has ended. */
  fullDigest(): string {
    if (this.full === undefined) throw new Error('the snapshot stream has not ended');
    return this.full;
  }
}
