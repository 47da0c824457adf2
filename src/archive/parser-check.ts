import { Transform, type TransformCallback } from 'node:stream';

/** A parser fed a byte stream a chunk at a time; each call throws when the input is damaged or cut short. */
export interface ChunkParser {
  write(chunk: Buffer): void;
  /** The input has ended: throws when it ended too early. */
  finish(): void;
}

/**
 * The content check `verify` runs on a format read by a ChunkParser: feeds it the whole stream, passes nothing on, and
 * fails the stream with the parser's error.
 */
export class ParserCheck extends Transform {
  constructor(private readonly parser: ChunkParser) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.parser.write(chunk);
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }

  override _flush(cb: TransformCallback): void {
    try {
      this.parser.finish();
      cb();
    } catch (err) {
      cb(err as Error);
    }
  }
}
