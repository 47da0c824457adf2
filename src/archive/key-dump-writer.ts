import type { KeyRecord } from '../core/key-record.js';
import { END_ENTRY, HEADER_ENTRY, keyEntryNames, keyMetaLine, type DumpEnd, type DumpHeader } from './key-dump-format.js';
import { BLOCK, TarHeaderWriter, tarEnd, tarEntry, tarPadded } from './tar.js';

/** Values of this size and more are not copied into a page's buffer (see keysOf). */
export const OWN_CHUNK_BYTES = 64 * 1024;

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
   * Entries of a run of keys (a page), in order, as few buffers: headers, JSON lines and small values are written
   * straight into one buffer, so a page costs one allocation and no small buffer per key (which, at 200k entries per
   * 100k keys, cost more CPU in the allocator and the GC than the copying). Values of OWN_CHUNK_BYTES and more are
   * passed on as they are, between views of that buffer: they are views of etcd's reply already, and a page of Helm
   * releases (10 MB and more) copied once more was the peak RSS of a raw backup (the compressor copies them into its
   * reused blocks anyway).
   */
  keysOf(records: readonly KeyRecord[]): Buffer[] {
    const lines = records.map((r, i) => keyMetaLine(this.keys + i + 1, r));
    let total = 0;
    for (let i = 0; i < records.length; i++) {
      const size = records[i]!.value.length;
      total += 2 * BLOCK + tarPadded(Buffer.byteLength(lines[i]!)) + tarPadded(size) - (size >= OWN_CHUNK_BYTES ? size : 0);
    }
    const out = Buffer.allocUnsafe(total);
    const chunks: Buffer[] = [];
    let from = 0;
    let at = 0;
    for (let i = 0; i < records.length; i++) {
      const value = records[i]!.value;
      const names = keyEntryNames(++this.keys);
      this.valueBytes += value.length;
      const lineBytes = out.write(lines[i]!, at + BLOCK, 'utf8');
      this.headers.write(out, at, names.meta, lineBytes);
      at = zeroPad(out, at + BLOCK + lineBytes, lineBytes);
      this.headers.write(out, at, names.value, value.length);
      at += BLOCK;
      if (value.length >= OWN_CHUNK_BYTES) {
        chunks.push(out.subarray(from, at), value);
        from = at;
      } else {
        value.copy(out, at);
        at += value.length;
      }
      at = zeroPad(out, at, value.length);
    }
    if (at > from) chunks.push(out.subarray(from, at));
    return chunks;
  }

  /** The end entry and tar's end-of-archive marker. */
  end(): Buffer {
    const end: DumpEnd = { keys: this.keys, valueBytes: this.valueBytes };
    return Buffer.concat([...tarEntry(END_ENTRY, Buffer.from(`${JSON.stringify(end)}\n`), this.mtime), tarEnd()]);
  }
}

/** Zeroes the padding of `size` bytes of entry data, which end at `end` of `buf`; returns where the padding ends. */
function zeroPad(buf: Buffer, end: number, size: number): number {
  const next = end + tarPadded(size) - size;
  if (next > end) buf.fill(0, end, next);
  return next;
}
