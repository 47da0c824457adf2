import { fnv1a64 } from '../../../src/snapshot/fnv.js';

/** An element of a leaf page: a key and a value, or a key and a bucket header (`bucket: true`). */
export interface LeafEntry {
  key: Buffer | string;
  value: Buffer | string;
  bucket?: boolean;
}

const HEADER = 16;
const ELEMENT = 16;

function bytes(b: Buffer | string): Buffer {
  return typeof b === 'string' ? Buffer.from(b) : b;
}

/** A leaf page image (header + elements + data), `id` in its header, padded to whole pages of `pageSize`. */
export function leafImage(entries: LeafEntry[], id: number, pageSize: number): Buffer {
  const data = Buffer.concat(entries.flatMap((e) => [bytes(e.key), bytes(e.value)]));
  const raw = Buffer.alloc(HEADER + ELEMENT * entries.length + data.length);
  let at = HEADER + ELEMENT * entries.length;
  entries.forEach((e, i) => {
    const el = HEADER + ELEMENT * i;
    raw.writeUInt32LE(e.bucket ? 1 : 0, el);
    raw.writeUInt32LE(at - el, el + 4);
    raw.writeUInt32LE(bytes(e.key).length, el + 8);
    raw.writeUInt32LE(bytes(e.value).length, el + 12);
    at += bytes(e.key).length + bytes(e.value).length;
  });
  data.copy(raw, HEADER + ELEMENT * entries.length);
  return page(raw, id, 0x02, entries.length, pageSize);
}

function page(raw: Buffer, id: number, flags: number, count: number, pageSize: number): Buffer {
  const pages = pageSize === 0 ? 1 : Math.max(1, Math.ceil(raw.length / pageSize));
  const out = Buffer.alloc(pageSize === 0 ? raw.length : pages * pageSize);
  raw.copy(out);
  out.writeBigUInt64LE(BigInt(id), 0);
  out.writeUInt16LE(flags, 8);
  out.writeUInt16LE(count, 10);
  out.writeUInt32LE(pages - 1, 12);
  return out;
}

/**
 * Builds small bbolt files by hand, for tests that need shapes etcd never writes (nested buckets, forged pages) or
 * exact control over the layout. Page ids are handed out in order from 2.
 */
export class BoltWriter {
  private readonly pages = new Map<number, Buffer>();
  private next = 2;

  constructor(readonly pageSize = 4096) {}

  /** Adds a leaf page (with overflow pages if it needs them); returns its id. */
  leaf(entries: LeafEntry[]): number {
    const id = this.next;
    const image = leafImage(entries, id, this.pageSize);
    this.pages.set(id, image);
    this.next += image.length / this.pageSize;
    return id;
  }

  /** Adds a branch page over children (key = child's first key); returns its id. */
  branch(children: { key: Buffer | string; pgid: number }[]): number {
    const id = this.next++;
    const keys = Buffer.concat(children.map((c) => bytes(c.key)));
    const raw = Buffer.alloc(HEADER + ELEMENT * children.length + keys.length);
    let at = HEADER + ELEMENT * children.length;
    children.forEach((c, i) => {
      const el = HEADER + ELEMENT * i;
      raw.writeUInt32LE(at - el, el);
      raw.writeUInt32LE(bytes(c.key).length, el + 4);
      raw.writeBigUInt64LE(BigInt(c.pgid), el + 8);
      at += bytes(c.key).length;
    });
    keys.copy(raw, HEADER + ELEMENT * children.length);
    this.pages.set(id, page(raw, id, 0x01, children.length, this.pageSize));
    return id;
  }

  /** Adds a freelist page listing `ids`; returns its id (pass it to `finish` to persist it). */
  freelist(ids: number[]): number {
    const id = this.next++;
    const raw = Buffer.alloc(HEADER + 8 * ids.length);
    ids.forEach((free, i) => raw.writeBigUInt64LE(BigInt(free), HEADER + 8 * i));
    this.pages.set(id, page(raw, id, 0x10, ids.length, this.pageSize));
    return id;
  }

  /** Skips a page id (left zeroed: an unreachable, free page). */
  skip(): number {
    return this.next++;
  }

  /** The value of a bucket element whose tree starts at page `root`. */
  static bucket(root: number): Buffer {
    const v = Buffer.alloc(16);
    v.writeBigUInt64LE(BigInt(root), 0);
    return v;
  }

  /** The value of an inline bucket element holding `entries`. */
  static inlineBucket(entries: LeafEntry[]): Buffer {
    return Buffer.concat([Buffer.alloc(16), leafImage(entries, 0, 0)]);
  }

  /** The whole file: two meta pages naming `root` as the root bucket's page, then every page. */
  finish(root: number, opts: { txid?: number; freelist?: bigint } = {}): Buffer {
    const ps = this.pageSize;
    const out = Buffer.alloc(this.next * ps);
    for (const [id, image] of this.pages) image.copy(out, id * ps);
    const txid = opts.txid ?? 2;
    [0, 1].forEach((index) => writeMeta(out, index, {
      pageSize: ps, root, pgid: this.next, txid: txid - index, freelist: opts.freelist ?? 0xffffffffffffffffn,
    }));
    return out;
  }
}

/**
 * Writes a meta page (header and body with a correct checksum) into `file` at page `index`, or at byte `at` (to
 * forge a meta whose page size disagrees with where it lies).
 */
export function writeMeta(
  file: Buffer,
  index: number,
  m: { pageSize: number; root: number; pgid: number; txid: number; freelist: bigint },
  at = index * m.pageSize,
): void {
  file.fill(0, at, at + 80);
  file.writeBigUInt64LE(BigInt(index), at);
  file.writeUInt16LE(0x04, at + 8);
  file.writeUInt32LE(0xed0cdaed, at + 16);
  file.writeUInt32LE(2, at + 20);
  file.writeUInt32LE(m.pageSize, at + 24);
  file.writeBigUInt64LE(BigInt(m.root), at + 32);
  file.writeBigUInt64LE(m.freelist, at + 48);
  file.writeBigUInt64LE(BigInt(m.pgid), at + 56);
  file.writeBigUInt64LE(BigInt(m.txid), at + 64);
  file.writeBigUInt64LE(fnv1a64(file.subarray(at + 16, at + 72)), at + 72);
}
