import zlib from 'node:zlib';

/** One compressor: a frame at a time, its output collected until the frame's end. */
interface Lane {
  z: zlib.ZstdCompress;
  out: Buffer[];
}

/**
 * A few long-lived zstd compressors (Node's zlib.ZstdCompress), each turning one block at a time into one whole frame
 * (a flush with ZSTD_e_end ends it; the next write starts a new one). Each libzstd context is made once and reused,
 * so compressing allocates no native memory per block. A block waits for a free lane when all are busy.
 */
export class ZstdLanes {
  private readonly free: Lane[] = [];
  private readonly all: Lane[] = [];
  private readonly waiting: Array<(lane: Lane) => void> = [];

  constructor(
    private readonly max: number,
    private readonly make: () => zlib.ZstdCompress,
  ) {}

  /** `block` as one frame, in the pieces the compressor wrote. */
  async frame(block: Buffer): Promise<Buffer[]> {
    const lane = this.free.pop() ?? (this.all.length < this.max ? this.open() : await new Promise<Lane>((resolve) => this.waiting.push(resolve)));
    try {
      return await new Promise<Buffer[]>((resolve, reject) => {
        lane.z.write(block);
        lane.z.flush(zlib.constants.ZSTD_e_end, (err?: Error | null) => (err ? reject(err) : resolve(lane.out.splice(0))));
      });
    } finally {
      const next = this.waiting.shift();
      if (next) next(lane);
      else this.free.push(lane);
    }
  }

  /** Frees every context (the lanes are not used again). */
  close(): void {
    for (const lane of this.all) lane.z.close();
  }

  private open(): Lane {
    const lane: Lane = { z: this.make(), out: [] };
    lane.z.on('data', (piece: Buffer) => lane.out.push(piece));
    // A failure reaches the flush callback of the frame that met it.
    lane.z.on('error', () => undefined);
    this.all.push(lane);
    return lane;
  }
}
