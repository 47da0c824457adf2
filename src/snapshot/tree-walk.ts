import type { BoltFile } from './bolt-file.js';
import { BranchNode } from './branch-node.js';
import { MAX_TREE_DEPTH, type BucketRoot } from './bucket.js';
import { SnapshotFormatError } from './errors.js';
import type { LeafNode } from './leaf-node.js';
import { SCANNED_BRANCH, SCANNED_LEAF, type PageScan } from './page-scan.js';
import { PageSet } from './page-set.js';

/** A branch being walked: the next child to visit, and how far its children have been prefetched. */
interface Frame {
  node: BranchNode;
  next: number;
  ahead: number;
}

/** Children requested ahead of the walk at each level. */
const LOOKAHEAD = 64;

/** What a walk step gives: a leaf node, or (with a page scan) the id of a leaf the scan has summarized. */
export type WalkStep = LeafNode | number;

/**
 * Visits a bucket's leaves in key order (depth-first over branch pages). `seen` records every page visited, so a
 * forged file whose branches point back up the tree, or fan out to the same child, fails fast instead of looping;
 * pass one set to several walks to require that they share no page.
 *
 * `next()` answers synchronously while pages are cached and returns a promise only when one must be read: a walk
 * then costs a promise per disk read, not per page. With a PageScan, scanned leaves are not read at all: the step
 * is their page id.
 */
export class LeafWalker {
  private readonly stack: Frame[] = [];
  private readonly where: string;
  private pgid: number;
  private done = false;

  constructor(
    private readonly file: BoltFile,
    private readonly bucket: BucketRoot,
    private readonly seen: PageSet = new PageSet(file.pageCount),
    private readonly scan?: PageScan,
    /** Leaves spanning more than `above` bytes are read only `bytes` far (see BoltFile.readNodeHead). */
    private readonly head?: { bytes: number; above: number },
  ) {
    this.where = `bucket ${bucket.name}`;
    this.pgid = bucket.kind === 'page' ? bucket.pgid : 0;
  }

  /** The next leaf, or null after the last. */
  next(): WalkStep | null | Promise<WalkStep | null> {
    if (this.done) return null;
    if (this.bucket.kind === 'inline') {
      this.done = true;
      return this.bucket.node;
    }
    for (;;) {
      const pgid = this.pgid;
      const kind = this.scan !== undefined && Number.isSafeInteger(pgid) && pgid >= 2 && pgid < this.file.pageCount
        ? this.scan.kind[pgid] : 0;
      if (kind === SCANNED_LEAF) {
        this.visit(pgid, (this.scan as PageScan).span[pgid] as number);
        this.advance();
        return pgid;
      }
      let node: LeafNode | BranchNode | undefined;
      if (kind === SCANNED_BRANCH) {
        const page = (this.scan as PageScan).branches.get(pgid) as Buffer;
        node = new BranchNode(page, pgid, page.readUInt16LE(10), `page ${pgid} (offset ${this.file.offsetOf(pgid)}) in ${this.where}`);
      } else {
        node = this.head === undefined ? this.file.readNodeCached(pgid, this.where) : this.file.readNodeHeadCached(pgid, this.where, this.head.bytes, this.head.above);
      }
      if (node === undefined) {
        const read = this.head === undefined ? this.file.readNode(pgid, this.where) : this.file.readNodeHead(pgid, this.where, this.head.bytes, this.head.above);
        return read.then((n) => this.accept(n) ?? this.next());
      }
      const leaf = this.accept(node);
      if (leaf !== undefined) return leaf;
    }
  }

  /** Takes in the node at the current position; returns it if it is a leaf, after moving to the following one. */
  private accept(node: LeafNode | BranchNode): LeafNode | undefined {
    this.visit(node.pgid, (node instanceof BranchNode ? node.buffer.length : node.spanBytes) / this.file.pageSize);
    if (node instanceof BranchNode) {
      if (this.stack.length >= MAX_TREE_DEPTH) {
        throw new SnapshotFormatError(`${this.where}: tree deeper than ${MAX_TREE_DEPTH} levels at page ${node.pgid}`);
      }
      const frame = { node, next: 1, ahead: 0 };
      this.stack.push(frame);
      this.pgid = node.child(0);
      this.prefetch(frame);
      return undefined;
    }
    this.advance();
    return node;
  }

  /** Moves past the current leaf to the next child of the nearest branch that has one. */
  private advance(): void {
    let top = this.stack.at(-1);
    while (top !== undefined && top.next >= top.node.count) {
      this.stack.pop();
      top = this.stack.at(-1);
    }
    if (top === undefined) {
      this.done = true;
    } else {
      this.pgid = top.node.child(top.next++);
      this.prefetch(top);
    }
  }

  /**
   * Keeps the next LOOKAHEAD children of a branch requested: the walk knows exactly which pages come next. Near the
   * end of a branch, the first children of the next branch (a sibling, itself prefetched by the level above) are
   * requested too, so the walk does not stall at every branch boundary.
   */
  private prefetch(frame: Frame): void {
    if (this.scan !== undefined || frame.ahead - frame.next >= LOOKAHEAD / 2) return;
    if (frame.ahead < frame.node.count) {
      const from = Math.max(frame.ahead, frame.next - 1);
      const to = Math.min(frame.node.count, from + LOOKAHEAD);
      const ids: number[] = [];
      for (let i = from; i < to; i++) ids.push(frame.node.child(i));
      frame.ahead = to;
      this.file.prefetch(ids);
      return;
    }
    const level = this.stack.indexOf(frame);
    const parent = this.stack[level - 1];
    if (parent === undefined || frame.ahead > frame.node.count || parent.next >= parent.node.count) return;
    frame.ahead++; // only once per branch
    let sibling: LeafNode | BranchNode | undefined;
    try {
      sibling = this.file.readNodeCached(parent.node.child(parent.next), this.where);
    } catch {
      return; // a damaged sibling is reported when the walk gets there
    }
    if (sibling instanceof BranchNode) {
      const ids: number[] = [];
      for (let i = 0; i < Math.min(sibling.count, LOOKAHEAD); i++) ids.push(sibling.child(i));
      this.file.prefetch(ids);
    }
  }

  /** Records a page and its overflow as visited; a second visit means a cycle or a page shared by two parents. */
  private visit(pgid: number, pages: number): void {
    for (let id = pgid; id < pgid + pages; id++) {
      if (this.seen.has(id)) {
        throw new SnapshotFormatError(`${this.where}: page ${id} (offset ${this.file.offsetOf(id)}) is reached twice ` +
          '(a cycle or a page shared by two parents)');
      }
      this.seen.add(id);
    }
  }
}

/**
 * Yields a bucket's leaf nodes in key order (see LeafWalker); with `head`, leaves spanning more than `head.above` are read only `head.bytes`
 * far (not `complete`: see BoltFile.readNodeHead).
 */
export async function* leafNodes(file: BoltFile, bucket: BucketRoot, seen?: PageSet, head?: { bytes: number; above: number }): AsyncGenerator<LeafNode> {
  const walker = new LeafWalker(file, bucket, seen, undefined, head);
  for (;;) {
    const step = walker.next();
    const leaf = step instanceof Promise ? await step : step;
    if (leaf === null) return;
    yield leaf as LeafNode;
  }
}
