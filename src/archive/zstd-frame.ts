import { IntegrityError } from '../core/errors.js';

// The zstd frame format (RFC 8878, section 3.1), as far as reading it safely needs: where each frame starts and
// ends, and how much it may decode to, learned from its header and block headers before any of it is decoded.

/** Magic number of a zstd frame (little-endian on disk: 28 b5 2f fd). */
export const ZSTD_MAGIC = 0xfd2fb528;
/** Skippable frames carry user data the decoder passes over: magic 0x184d2a50..0x184d2a5f. */
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;
/** The largest block any frame may hold, compressed or not. */
export const MAX_BLOCK = 128 * 1024;

/** What a frame header says. */
export interface FrameHeader {
  /** Bytes of the header, magic number included. */
  size: number;
  /** The declared content size, when the header has one (2^53 and more read as Infinity). */
  contentSize: number | undefined;
  /** Window size: what a decoder must keep of the output (the content size for single-segment frames). */
  windowSize: number;
  hasChecksum: boolean;
  dictionaryId: number;
}

/** Bytes of a frame header after the magic number and the descriptor byte, for a descriptor `fhd`. */
function restOfHeader(fhd: number): number {
  const singleSegment = (fhd & 0x20) !== 0;
  const fcsFlag = fhd >> 6;
  const fcs = fcsFlag === 0 ? (singleSegment ? 1 : 0) : 1 << fcsFlag;
  const dict = [0, 1, 2, 4][fhd & 3]!;
  return (singleSegment ? 0 : 1) + dict + fcs;
}

/**
 * Parses a frame header from `buf` (which starts with the magic number and holds at least the whole header), or
 * returns the number of bytes needed when it holds less. Throws for a header no decoder may accept.
 */
export function parseFrameHeader(buf: Buffer, where = 0): FrameHeader | number {
  if (buf.length < 5) return 5;
  if (buf.readUInt32LE(0) !== ZSTD_MAGIC) throw bad(where, 'is not a zstd frame (wrong magic number)');
  const fhd = buf[4]!;
  if ((fhd & 0x08) !== 0) throw bad(where, 'has a frame header with its reserved bit set');
  const size = 5 + restOfHeader(fhd);
  if (buf.length < size) return size;
  const singleSegment = (fhd & 0x20) !== 0;
  let at = 5;
  let windowSize = 0;
  if (!singleSegment) {
    const wd = buf[at++]!;
    const base = 2 ** (10 + (wd >> 3));
    windowSize = base + (base / 8) * (wd & 7);
  }
  const dictBytes = [0, 1, 2, 4][fhd & 3]!;
  const dictionaryId = dictBytes === 0 ? 0 : buf.readUIntLE(at, dictBytes);
  at += dictBytes;
  let contentSize: number | undefined;
  const fcsBytes = size - at;
  if (fcsBytes === 1) contentSize = buf[at]!;
  else if (fcsBytes === 2) contentSize = buf.readUInt16LE(at) + 256;
  else if (fcsBytes === 4) contentSize = buf.readUInt32LE(at);
  else if (fcsBytes === 8) {
    const high = buf.readUInt32LE(at + 4);
    contentSize = high >= 2 ** 21 ? Infinity : high * 2 ** 32 + buf.readUInt32LE(at);
  }
  if (singleSegment) windowSize = contentSize!;
  return { size, contentSize, windowSize, hasChecksum: (fhd & 0x04) !== 0, dictionaryId };
}

/** The longest a frame header can be: magic, descriptor, window descriptor, dictionary id, content size. */
const MAX_FRAME_HEADER = 4 + 1 + 1 + 4 + 8;

/**
 * `frame` (one whole frame, as the encoder wrote it for `content`, in one or more pieces) with the content size and
 * checksum in it, as buffers to write in order (no copy of the frame's body). The header grows by 4 or 8 bytes for
 * the size, and the frame ends with the low 32 bits of XXH64(content), as RFC 8878 defines the content checksum;
 * blocks are unchanged. A decoder then checks both (`zstd -d` too), and `zstd -l` shows the size. `xxh64` is passed in
 * to keep this pure.
 */
export function withSizeAndChecksum(frame: Buffer | readonly Buffer[], content: Buffer, xxh64: (b: Buffer) => bigint): Buffer[] {
  let pieces = Buffer.isBuffer(frame) ? [frame] : frame;
  // The header is read from the first piece: one that ends inside it (rare: an encoder's output buffer nearly full) is
  // joined with the rest.
  if (pieces.length > 1 && pieces[0]!.length < MAX_FRAME_HEADER) pieces = [Buffer.concat(pieces)];
  const first = pieces[0] ?? Buffer.alloc(0);
  const h = parseFrameHeader(first);
  if (typeof h === 'number') throw new Error(`zstd encoder wrote ${first.length} bytes, not a whole frame header`);
  if (h.contentSize !== undefined || h.hasChecksum) return [...pieces];
  const fhd = first[4]!;
  const wide = content.length > 0xffffffff;
  const head = Buffer.alloc(h.size + (wide ? 8 : 4));
  first.copy(head, 0, 0, h.size);
  // FCS_Field_Size 2 (4 bytes) or 3 (8 bytes), Content_Checksum_flag; the size goes last in the header.
  head[4] = (fhd & 0x3f) | (wide ? 0xc0 : 0x80) | 0x04;
  if (wide) head.writeBigUInt64LE(BigInt(content.length), h.size);
  else head.writeUInt32LE(content.length, h.size);
  const checksum = Buffer.alloc(4);
  checksum.writeUInt32LE(Number(xxh64(content) & 0xffffffffn));
  return [head, first.subarray(h.size), ...pieces.slice(1), checksum];
}

/**
 * What frames the check lets through. A frame's content size is not bounded: a streaming decoder keeps only its window
 * of the output, whatever the frame decodes to (what the output may add up to is bounded by the reader: a backup's
 * rawSizeBytes, the work area's free space for a file).
 */
export interface FrameLimits {
  /** Largest window (what a decoder keeps of the output). */
  maxWindow: number;
  /** What to do with a frame whose window is over it, added to the refusal: `decompress it first (zstd -d FILE)`. */
  advice?: string;
}

function bad(offset: number, what: string): IntegrityError {
  return new IntegrityError('decompress', `the zstd data at byte ${offset} ${what}`);
}

type State = 'magic' | 'descriptor' | 'header' | 'block-header' | 'block-body' | 'checksum' | 'skippable-size' | 'skippable-body';

/**
 * Follows a zstd stream (concatenated frames, skippable frames passed over) by its frame and block headers alone,
 * keeping none of its bytes: each frame's header is checked against `limits` (its window) and each block header against
 * the format as they arrive, so a hostile or damaged stream is refused before a decoder is given the bytes they
 * describe. Input arrives in chunks of any size.
 */
export class ZstdFrameCheck {
  private state: State = 'magic';
  /** Stream offset of the next byte to read. */
  private pos = 0;
  private frameStart = 0;
  /** Small fields (magic, header, block header) gathered across chunks. */
  private readonly scratch = Buffer.alloc(18);
  private fill = 0;
  private need = 4;
  /** Bytes still to pass over in a body state. */
  private skip = 0;
  private header: FrameHeader | undefined;
  private blockMax = 0;
  private lastBlock = false;
  private frames = 0;

  constructor(private readonly limits: FrameLimits) {}

  /**
   * Checks the next chunk of the stream; throws an IntegrityError (check `decompress`) at the first bad header. Returns
   * where in the chunk frames (skippable ones too) start.
   */
  push(chunk: Buffer): number[] {
    const starts: number[] = [];
    let i = 0;
    for (;;) {
      if (this.state === 'block-body' || this.state === 'checksum' || this.state === 'skippable-body') {
        const n = Math.min(this.skip, chunk.length - i);
        i += n;
        this.pos += n;
        this.skip -= n;
        if (this.skip > 0) break;
        // Body done (an empty one too, also at the very end of a chunk): what comes next.
        if (this.state === 'skippable-body') this.nextFrame();
        else if (this.state === 'block-body' && !this.lastBlock) this.gather('block-header', 3);
        else if (this.state === 'block-body' && this.header!.hasChecksum) this.passOver('checksum', 4);
        else {
          this.frames++;
          this.nextFrame();
        }
        continue;
      }
      if (i >= chunk.length) break;
      if (this.state === 'magic' && this.fill === 0) {
        this.frameStart = this.pos;
        starts.push(i);
      }
      const n = Math.min(this.need - this.fill, chunk.length - i);
      chunk.copy(this.scratch, this.fill, i, i + n);
      this.fill += n;
      i += n;
      this.pos += n;
      if (this.fill === this.need) this.gathered();
    }
    return starts;
  }

  /** Stream offset of the frame under way (or of the last one, between frames). */
  get frameOffset(): number {
    return this.frameStart;
  }

  /** The stream ended: throws when it ended inside a frame, or held no frame at all. */
  end(): void {
    if (!(this.state === 'magic' && this.fill === 0)) {
      throw bad(this.frameStart, `is cut off: the stream ends ${this.pos - this.frameStart} bytes into a frame (truncated?)`);
    }
    if (this.frames === 0) throw bad(0, 'holds no zstd frame (an empty or truncated file)');
  }

  /** Gathers the next `need` bytes into `scratch`, from its start. */
  private gather(state: State, need: number): void {
    this.state = state;
    this.fill = 0;
    this.need = need;
  }

  /** Gathers more of the field in `scratch` (the frame header after its magic number), up to `need` bytes in all. */
  private more(state: State, need: number): void {
    this.state = state;
    this.need = need;
  }

  private passOver(state: State, bytes: number): void {
    this.state = state;
    this.skip = bytes;
  }

  private nextFrame(): void {
    this.header = undefined;
    this.lastBlock = false;
    this.gather('magic', 4);
  }

  /** Acts on the small field just gathered into `scratch`. */
  private gathered(): void {
    const f = this.scratch;
    switch (this.state) {
      case 'magic': {
        const magic = f.readUInt32LE(0);
        if (magic === ZSTD_MAGIC) return this.more('descriptor', 5);
        if ((magic & SKIPPABLE_MASK) >>> 0 === SKIPPABLE_MAGIC) {
          return this.more('skippable-size', 8);
        }
        throw bad(this.frameStart, this.frames === 0 ? 'is not zstd data (no zstd magic number)' : 'is not a zstd frame (garbage after the last frame?)');
      }
      case 'descriptor':
      case 'header': {
        const h = parseFrameHeader(f.subarray(0, this.fill), this.frameStart);
        if (typeof h === 'number') return this.more('header', h);
        this.checkHeader(h);
        this.header = h;
        this.blockMax = Math.min(h.windowSize, MAX_BLOCK);
        return this.gather('block-header', 3);
      }
      case 'block-header': {
        const v = f[0]! | (f[1]! << 8) | (f[2]! << 16);
        this.lastBlock = (v & 1) === 1;
        const type = (v >> 1) & 3;
        const size = v >>> 3;
        const at = this.pos - 3;
        if (type === 3) throw bad(at, 'has a block of the reserved type 3 (damaged data)');
        if (size > this.blockMax) throw bad(at, `has a block of ${size} bytes; its frame allows ${this.blockMax} (damaged data)`);
        return this.passOver('block-body', type === 1 ? 1 : size);
      }
      case 'skippable-size':
        return this.passOver('skippable-body', f.readUInt32LE(4));
      default:
        throw new Error(`zstd frame check: unexpected state ${this.state}`);
    }
  }

  private checkHeader(h: FrameHeader): void {
    const { maxWindow, advice } = this.limits;
    if (h.dictionaryId !== 0) throw bad(this.frameStart, `needs zstd dictionary ${h.dictionaryId}, which reshifter does not have`);
    // A decoder keeps min(window, content size) of output: that is what must be bounded, not the content size.
    const kept = h.contentSize === undefined ? h.windowSize : Math.min(h.windowSize, h.contentSize);
    if (kept > maxWindow) {
      throw bad(
        this.frameStart,
        `starts a frame with a window of ${describeSize(h.windowSize)}, more than the ${describeSize(maxWindow)} reshifter reads ` +
          `(zstd --long and --ultra levels write such windows)${advice !== undefined ? `: ${advice}` : ''}`,
      );
    }
  }
}

/** `n` bytes in MiB, as `zstd -lv` shows a window (with the bytes when not a whole number of MiB). */
function describeSize(n: number): string {
  if (!Number.isFinite(n)) return 'more than 2^53 bytes';
  const mib = n / (1024 * 1024);
  return Number.isInteger(mib) ? `${mib} MiB` : `${mib.toFixed(1)} MiB (${n} bytes)`;
}
