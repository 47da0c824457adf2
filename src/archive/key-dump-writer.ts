import type { KeyRecord } from '../core/key-record.js';
import { END_ENTRY, HEADER_ENTRY, encodeKeyMeta, keyEntryNames, type DumpEnd, type DumpHeader } from './key-dump-format.js';
import { tarEnd, tarEntry } from './tar.js';

/** Turns a dump's header, keys and end into tar bytes (see key-dump-format.ts); each call returns whole entries. */
export class KeyDumpWriter {
  keys = 0;
  valueBytes = 0;
  private readonly mtime: number;

  constructor(createdAt: Date) {
    this.mtime = Math.floor(createdAt.getTime() / 1000);
  }

  header(h: DumpHeader): Buffer {
    return Buffer.concat(tarEntry(HEADER_ENTRY, Buffer.from(`${JSON.stringify(h, null, 2)}\n`), this.mtime));
  }

  /** Entries of a run of keys, as one buffer. */
  keysOf(records: readonly KeyRecord[]): Buffer {
    const parts: Buffer[] = [];
    for (const r of records) {
      const n = ++this.keys;
      this.valueBytes += r.value.length;
      const names = keyEntryNames(n);
      parts.push(...tarEntry(names.meta, encodeKeyMeta(n, r), this.mtime), ...tarEntry(names.value, r.value, this.mtime));
    }
    return Buffer.concat(parts);
  }

  /** The end entry and tar's end-of-archive marker. */
  end(): Buffer {
    const end: DumpEnd = { keys: this.keys, valueBytes: this.valueBytes };
    return Buffer.concat([...tarEntry(END_ENTRY, Buffer.from(`${JSON.stringify(end)}\n`), this.mtime), tarEnd()]);
  }
}
