import type { BoltFile } from './bolt-file.js';
import type { LeafNode } from './leaf-node.js';

/** Reads in flight at once: enough to keep the thread pool busy on scattered reads. */
const CONCURRENCY = 8;
/** A gap this small is read through: cheaper than another read (~20 us of overhead each, ~1.3 us per page copied). */
const MAX_GAP_PAGES = 8;
/** Largest merged read. */
const MAX_READ_BYTES = 2 * 1024 * 1024;

/** A leaf page to read: its id and its span in pages. */
export interface LeafRef {
  pgid: number;
  span: number;
}

/**
 * Reads scattered leaf pages of known span in file order, merging pages close to each other into one read and
 * keeping CONCURRENCY reads in flight. `onLeaf` gets each page as soon as it is read; the buffer behind it is
 * reused right after, so copy what you keep.
 */
export async function readLeaves(file: BoltFile, refs: LeafRef[], onLeaf: (leaf: LeafNode) => void): Promise<void> {
  const ps = file.pageSize;
  const sorted = [...refs].sort((a, b) => a.pgid - b.pgid);
  const groups: LeafRef[][] = [];
  let group: LeafRef[] = [];
  let groupEnd = 0;
  for (const ref of sorted) {
    const start = group[0]?.pgid ?? ref.pgid;
    if (group.length > 0 && (ref.pgid - groupEnd > MAX_GAP_PAGES || (ref.pgid + ref.span - start) * ps > MAX_READ_BYTES)) {
      groups.push(group);
      group = [];
    }
    group.push(ref);
    groupEnd = Math.max(group.length === 1 ? 0 : groupEnd, ref.pgid + ref.span);
  }
  if (group.length > 0) groups.push(group);

  let next = 0;
  const reader = async (): Promise<void> => {
    // One buffer per reader, reused: onLeaf copies what it keeps, and fresh memory costs a page fault per 4 KiB.
    let own = Buffer.allocUnsafe(0);
    try {
      while (next < groups.length) {
        const refsInRead = groups[next++]!;
        const first = refsInRead[0]!.pgid;
        const end = Math.max(...refsInRead.map((r) => r.pgid + r.span));
        const length = (end - first) * ps;
        if (own.length < length) {
          freeBuffer(own);
          own = Buffer.allocUnsafe(Math.max(length, Math.min(MAX_READ_BYTES, 256 * 1024)));
        }
        const bytes = own.subarray(0, length);
        await file.source.readInto(bytes, first * ps, `pages ${first}..${end - 1}`);
        for (const ref of refsInRead) {
          const at = (ref.pgid - first) * ps;
          onLeaf(file.leafFromBytes(ref.pgid, ref.span, bytes.subarray(at, at + ref.span * ps), 'bucket "key"'));
        }
      }
    } finally {
      freeBuffer(own);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, groups.length) }, reader));
}

/**
 * Frees a buffer nothing holds a view of at once: a reader's, when done (onLeaf copies what it keeps). Left to V8,
 * the 16 MiB of buffers of every batch of values were garbage it frees only once ~64 MB of them have piled up.
 */
export function freeBuffer(buf: Buffer): void {
  // Over the pool's 4 KiB, a buffer of its own; transfer(0) (ES2024) detaches it and frees its memory.
  if (buf.length > 0 && buf.byteOffset === 0 && buf.buffer.byteLength === buf.length) {
    (buf.buffer as ArrayBuffer & { transfer(length: number): ArrayBuffer }).transfer(0);
  }
}
