import type { KeyRecord } from '../core/key-record.js';
import { END_ENTRY, HEADER_ENTRY, keyEntryNames, keyMetaLine, type DumpEnd, type DumpHeader } from './key-dump-format.js';
import { BLOCK, TarHeaderWriter, tarEnd, tarEntry, tarPadded } from './tar.js';

/** Turns a dump's header, keys and end into tar bytes (see key-dump-format.ts); each call returns whole entries. */
export class KeyDumpWriter {
  keys = 0;
  valueBytes = 0;
  private readonly mtime: number;
  private readonly headers: TarHeaderWriter;

  constructor(createdAt: Date) {
    this.mtime = Math.floor(createdAt.getTime() / 1000);
    this.headers = new TarHeaderWriter(this.mtime);
  }

  header(h: DumpHeader): Buffer {
    return Buffer.concat(tarEntry(HEADER_ENTRY, Buffer.from(`${JSON.stringify(h, null, 2)}\n`), this.mtime));
  }

  /**
   * Entries of a run of keys (a page), as one buffer: headers, JSON lines and values are written straight into it,
   * so a page costs one allocation and one copy of its values, and no small buffer per key (which, at 200k entries
   * per 100k keys, cost more CPU in the allocator and the GC than the copying).
   */
  keysOf(records: readonly KeyRecord[]): Buffer {
    const lines = records.map((r, i) => keyMetaLine(this.keys + i + 1, r));
    let total = 0;
    for (let i = 0; i < records.length; i++) total += 2 * BLOCK + tarPadded(Buffer.byteLength(lines[i]!)) + tarPadded(records[i]!.value.length);
    const out = Buffer.allocUnsafe(total);
    let at = 0;
    for (let i = 0; i < records.length; i++) {
      const value = records[i]!.value;
      const names = keyEntryNames(++this.keys);
      this.valueBytes += value.length;
      const lineBytes = out.write(lines[i]!, at + BLOCK, 'utf8');
      this.headers.write(out, at, names.meta, lineBytes);
      at = zeroPad(out, at + BLOCK + lineBytes);
      this.headers.write(out, at, names.value, value.length);
      value.copy(out, at + BLOCK);
      at = zeroPad(out, at + BLOCK + value.length);
    }
    return out;
  }

  /** The end entry and tar's end-of-archive marker. */
  end(): Buffer {
    const end: DumpEnd = { keys: this.keys, valueBytes: this.valueBytes };
    return Buffer.concat([...tarEntry(END_ENTRY, Buffer.from(`${JSON.stringify(end)}\n`), this.mtime), tarEnd()]);
  }
}

/** Zeroes `buf` from `end` up to the next block boundary; returns that boundary. */
function zeroPad(buf: Buffer, end: number): number {
  const next = tarPadded(end);
  if (next > end) buf.fill(0, end, next);
  return next;
}
