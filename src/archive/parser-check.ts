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

/**
 * What is wrong with a header (`entry`) whose `version` is not the one this reshifter reads: one above it is a newer
 * reshifter's file, to be read with one, never taken for damage; any other value is damage.
 */
export function versionProblem(entry: string, version: unknown, reads: number): string {
  if (typeof version === 'number' && Number.isSafeInteger(version) && version > reads) {
    return `${entry} is version ${version}, written by a newer reshifter (this one reads version ${reads}): upgrade reshifter to read it`;
  }
  return `${entry} is version ${JSON.stringify(version)}; this reshifter reads version ${reads}`;
}
