import { Transform, pipeline, type Readable, type TransformCallback } from 'node:stream';

/**
 * `body` as a stream that fails with `tooLong()` at the first byte past `limit`. A stored artifact has the size its
 * manifest says; a store that sends more (a hostile or broken S3 endpoint's endless body, an artifact replaced by a
 * bigger file) would otherwise be read on to its end, or forever, and staged in the work area until the disk is full,
 * before any check of the size could fail. Destroying the result destroys `body`.
 */
export function limitBytes(body: Readable, limit: number, tooLong: () => Error): Readable {
  let seen = 0;
  const cap = new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
      seen += chunk.length;
      if (seen > limit) cb(tooLong());
      else cb(null, chunk);
    },
  });
  // pipeline destroys both on an error of either, and the body when the reader destroys the cap.
  return pipeline(body, cap, () => undefined);
}
