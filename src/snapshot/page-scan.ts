import type { BoltFile } from './bolt-file.js';
import { hashLeafBytes, type HashedBytes } from './bucket-hash.js';
import { u16At, u32At, u64At } from './bytes.js';
import { BRANCH_PAGE, LEAF_PAGE } from './page-header.js';

/** PageScan.kind values: a leaf hashed by the scan, a branch page it kept a copy of (0: neither). */
export const SCANNED_LEAF = 1;
export const SCANNED_BRANCH = 2;

/** Size of each read of the scan. */
const CHUNK_BYTES = 4 * 1024 * 1024;
/** Copies of branch pages kept for the tree walk; past this they are read again (a few random reads). */
const BRANCH_BUDGET = 32 * 1024 * 1024;
/** Beyond this many pages (1 TiB of 4 KiB pages) the per-page arrays get too big: no scan, a plain walk. */
export const MAX_SCANNED_PAGES = 2 ** 28;

/**
 * What one sequential pass over the file learned about each page, so the key-ordered tree walk of `status` needs no
 * random reads. Every page whose header names itself is taken as a candidate, live or free (the pass cannot tell);
 * the walk uses only what the tree reaches, and reads any page the pass skipped (one crossing a chunk boundary).
 *
 * Each leaf's CRC is chained over the leaves in file order. In a file written mostly in order, consecutive leaves
 * of the walk are consecutive here too, and the walk only corrects the chain where the orders differ.
 */
export class PageScan {
  readonly kind: Uint8Array;
  /** Leaf: CRC-32C of the leaves in file order up to and including this one. */
  readonly chained: Uint32Array;
  /** Leaf: the previous scanned leaf in file order, or -1. */
  readonly previous: Int32Array;
  /** Leaf: bytes it put into the CRC. */
  readonly bytes: Uint32Array;
  readonly count: Uint16Array;
  /** Leaf: pages it spans (1 + overflow). */
  readonly span: Uint32Array;
  readonly branches = new Map<number, Buffer>();
  /** Buffers allocated for pages carried across chunks: a few (each twice the last), whatever the pages' number. */
  carryBuffers = 0;

  constructor(pageCount: number) {
    this.kind = new Uint8Array(pageCount);
    this.chained = new Uint32Array(pageCount);
    this.previous = new Int32Array(pageCount);
    this.bytes = new Uint32Array(pageCount);
    this.count = new Uint16Array(pageCount);
    this.span = new Uint32Array(pageCount);
  }
}

/** Something else that wants every byte the scan reads (the sha256 trailer check), in file order. */
export interface ChunkSink {
  /** Memory for the scan's reads (shared memory when the sink works on another thread). */
  buffers(count: number, bytes: number): Buffer[];
  /** Takes a chunk just read; resolves when its buffer may be filled again. */
  take(chunk: Buffer): Promise<void>;
}

/** A page that runs past the end of a chunk, collected until the next chunks complete it. */
interface Carry {
  pgid: number;
  flags: number;
  count: number;
  span: number;
  buf: Buffer;
  filled: number;
}

/** Largest page carried across chunks; a bigger one (a value of tens of MiB) is left for the walk to read. */
const MAX_CARRY = 64 * 1024 * 1024;

/** Fills a PageScan from consecutive chunks of the file. */
class ChunkScanner {
  private chain = 0;
  private last = -1;
  private branchBytes = 0;
  private carry: Carry | undefined;
  /**
   * The memory of the last carry, reused by the next (nothing keeps a view of a carried page: a branch is copied): a
   * run of values of a megabyte crosses a chunk boundary every few pages, and a fresh buffer for each piled up
   * garbage faster than it was collected.
   */
  private carryMemory = Buffer.alloc(0);
  /** Pages below this belong to a page already handled (its overflow). */
  private resumeAt = 2;
  private readonly hashed: HashedBytes = { bytes: 0 };

  constructor(
    private readonly file: BoltFile,
    readonly scan: PageScan,
  ) {}

  /** Scans `pages` pages held in `buf`, starting with page `first`; chunks must come in file order. */
  scanChunk(buf: Buffer, first: number, pages: number): void {
    const ps = this.file.pageSize;
    const total = this.file.pageCount;
    const end = first + pages;
    const carry = this.carry;
    if (carry !== undefined) {
      const n = Math.min(carry.buf.length - carry.filled, buf.length);
      buf.copy(carry.buf, carry.filled, 0, n);
      carry.filled += n;
      if (carry.filled < carry.buf.length) return;
      this.carry = undefined;
      this.handle(carry.buf, 0, carry.pgid, carry.flags, carry.count, carry.span);
    }
    for (let p = Math.max(first, this.resumeAt); p < end;) {
      const off = (p - first) * ps;
      const flags = u16At(buf, off + 8);
      const overflow = u32At(buf, off + 12);
      if ((flags !== LEAF_PAGE && flags !== BRANCH_PAGE) || u64At(buf, off) !== p || overflow >= total - p) {
        p++;
        continue;
      }
      const span = overflow + 1;
      const count = u16At(buf, off + 10);
      this.resumeAt = p + span;
      if (p + span <= end) {
        this.handle(buf, off, p, flags, count, span);
      } else if (span * ps <= MAX_CARRY) {
        if (this.carryMemory.length < span * ps) {
          this.carryMemory = Buffer.allocUnsafe(Math.max(span * ps, Math.min(2 * this.carryMemory.length, MAX_CARRY)));
          this.scan.carryBuffers++;
        }
        const carried = this.carryMemory.subarray(0, span * ps);
        const filled = buf.copy(carried, 0, off);
        this.carry = { pgid: p, flags, count, span, buf: carried, filled };
      }
      p += span;
    }
  }

  private handle(buf: Buffer, off: number, pgid: number, flags: number, count: number, span: number): void {
    const bytes = span * this.file.pageSize;
    if (flags === BRANCH_PAGE) this.keepBranch(pgid, buf.subarray(off, off + bytes));
    else this.hashLeaf(pgid, buf, off, off + bytes, count, span);
  }

  private keepBranch(pgid: number, page: Buffer): void {
    if (this.branchBytes + page.length > BRANCH_BUDGET) return;
    this.branchBytes += page.length;
    this.scan.branches.set(pgid, Buffer.from(page));
    this.scan.kind[pgid] = SCANNED_BRANCH;
  }

  private hashLeaf(pgid: number, buf: Buffer, start: number, end: number, count: number, span: number): void {
    // A damaged or stale page is skipped: if the tree reaches it, the walk reads it and reports the problem properly.
    const chain = hashLeafBytes(buf, start, end, count, this.chain, this.hashed);
    if (chain === undefined) return;
    if (this.hashed.bytes > 0xffffffff) return;
    const s = this.scan;
    s.chained[pgid] = chain;
    s.previous[pgid] = this.last;
    s.bytes[pgid] = this.hashed.bytes;
    s.count[pgid] = count;
    s.span[pgid] = span;
    s.kind[pgid] = SCANNED_LEAF;
    this.chain = chain;
    this.last = pgid;
  }
}

/**
 * Reads the whole file once, sequentially, in large reads into reused buffers (no page faults on fresh memory, no
 * waiting on random reads), and summarizes every leaf and branch page for `boltStatus`. A `sink` sees every chunk
 * too. Returns undefined for files too large to summarize (the walk then reads pages itself); the sink then gets
 * nothing. `chunkBytes` is the size of each read (tests use tiny ones to cross many chunk boundaries).
 */
export async function scanPages(
  file: BoltFile,
  sink?: ChunkSink,
  chunkBytes = CHUNK_BYTES,
  signal?: AbortSignal,
): Promise<PageScan | undefined> {
  const total = file.pageCount;
  if (total > MAX_SCANNED_PAGES) return undefined;
  const ps = file.pageSize;
  const perChunk = Math.max(1, Math.floor(chunkBytes / ps));
  const chunks = Math.ceil(total / perChunk);
  // Two reads in flight and one chunk being scanned; a sink gets more buffers so it can lag a little behind.
  const slots = sink === undefined ? 3 : 6;
  const bytes = Math.min(perChunk, total) * ps;
  const buffers = sink?.buffers(slots, bytes) ?? Array.from({ length: slots }, () => Buffer.allocUnsafe(bytes));
  const released: Promise<void>[] = [];
  const read = async (c: number): Promise<Buffer> => {
    await released[c % slots];
    const first = c * perChunk;
    const buf = (buffers[c % slots] as Buffer).subarray(0, Math.min(perChunk, total - first) * ps);
    await file.source.readInto(buf, first * ps, `page scan at page ${first}`);
    return buf;
  };
  const start = (c: number): Promise<Buffer> | undefined => {
    if (c >= chunks) return undefined;
    const reading = read(c);
    // Awaited in turn below; until then a failure must not count as unhandled.
    reading.catch(() => undefined);
    return reading;
  };
  const scanner = new ChunkScanner(file, new PageScan(total));
  const reads = [start(0), start(1)];
  for (let c = 0; c < chunks; c++) {
    // A stop (SIGINT) between chunks ends the scan with the signal's reason: a scan of GBs takes seconds.
    signal?.throwIfAborted();
    const buf = await (reads[c % 2] as Promise<Buffer>);
    signal?.throwIfAborted();
    if (sink !== undefined) {
      const taken = sink.take(buf);
      taken.catch(() => undefined);
      released[c % slots] = taken;
    }
    reads[c % 2] = start(c + 2);
    scanner.scanChunk(buf, c * perChunk, buf.length / ps);
  }
  // The sink may still be busy with the last chunks; it finishes on its own while the caller walks the tree.
  return scanner.scan;
}
