import type { BoltFile } from './bolt-file.js';
import { BranchNode } from './branch-node.js';
import { describeKey } from './bytes.js';
import { MAX_TREE_DEPTH, parseBucketValue, rootBucket, type BucketRoot } from './bucket.js';
import { SnapshotFormatError } from './errors.js';
import type { LeafNode } from './leaf-node.js';
import { PageSet } from './page-set.js';
import { ProblemList } from './verify-check.js';

/** What a full walk of every bucket found. */
export interface TreeReport {
  /** Page-level problems: bounds, headers, types, elements outside their page, pages reached twice, depth. */
  pages: ProblemList;
  /** Keys out of order within a page, across pages, or below their branch key. */
  order: ProblemList;
  reachable: PageSet;
  buckets: number;
  keys: number;
  branchPages: number;
  leafPages: number;
  overflowPages: number;
}

/** Pages at the top of the walk's stack whose reads are kept started ahead of the walk. */
const PREFETCH_WINDOW = 64;

interface Frame {
  pgid: number;
  /** The branch key that led here: every key below must be >= it. */
  low: Buffer | undefined;
  depth: number;
}

/**
 * Walks every bucket (nested ones too) and every page of each, recording problems instead of stopping at the first,
 * so one damaged page does not hide the state of the rest. A page reached twice is reported and not walked again, so
 * forged cycles end.
 */
export async function walkAllBuckets(file: BoltFile, signal?: AbortSignal): Promise<TreeReport> {
  const report: TreeReport = {
    pages: new ProblemList(),
    order: new ProblemList(),
    reachable: new PageSet(file.pageCount),
    buckets: 0,
    keys: 0,
    branchPages: 0,
    leafPages: 0,
    overflowPages: 0,
  };
  const buckets: { root: BucketRoot; depth: number }[] = [{ root: rootBucket(file), depth: 0 }];
  for (let next = buckets.pop(); next !== undefined; next = buckets.pop()) {
    report.buckets++;
    const found = await walkBucket(file, next.root, report, signal);
    for (const root of found) {
      if (next.depth + 1 > MAX_TREE_DEPTH) report.pages.add(`bucket ${root.name}: buckets nested deeper than ${MAX_TREE_DEPTH}`);
      else buckets.push({ root, depth: next.depth + 1 });
    }
  }
  report.buckets--; // the root bucket is not a bucket a user sees
  return report;
}

/**
 * Checks a bucket's leaves as the walk meets them, in key order: every key sorts after the one before (across pages)
 * and not below its branch key; sub-buckets are collected into `subBuckets`.
 */
function leafChecker(bucket: BucketRoot, report: TreeReport, subBuckets: BucketRoot[]): (leaf: LeafNode, low: Buffer | undefined) => void {
  let previous: Buffer | undefined;
  return (leaf, low) => {
    report.keys += leaf.count;
    for (let i = 0; i < leaf.count; i++) {
      const key = leaf.key(i);
      if (i === 0 && low !== undefined && key.compare(low) < 0) {
        report.order.add(`${leaf.where}: first key ${describeKey(key)} is below its branch key ${describeKey(low)}`);
      }
      if (previous !== undefined && key.compare(previous) <= 0) {
        report.order.add(`${leaf.where}: key ${describeKey(key)} (element ${i}) does not sort after ${describeKey(previous)}`);
      }
      previous = key;
      if (leaf.isBucket(i)) {
        try {
          subBuckets.push(parseBucketValue(leaf.value(i), `${bucket.name === 'root bucket' ? '' : `${bucket.name}/`}${describeKey(key)}`));
        } catch (err) {
          if (!(err instanceof SnapshotFormatError)) throw err;
          report.pages.add(`${leaf.where}: ${err.message}`);
        }
      }
    }
  };
}

/** A branch's keys sort, and the first is not below its parent's key. */
function checkBranch(node: BranchNode, low: Buffer | undefined, report: TreeReport): void {
  for (let i = 0; i < node.count; i++) {
    const key = node.key(i);
    if (i > 0 && key.compare(node.key(i - 1)) <= 0) {
      report.order.add(`${node.where}: branch key ${describeKey(key)} (element ${i}) does not sort after the previous one`);
    }
    if (i === 0 && low !== undefined && key.compare(low) < 0) {
      report.order.add(`${node.where}: first key ${describeKey(key)} is below its parent's key ${describeKey(low)}`);
    }
  }
}

/** Marks the pages of a node (its overflow pages too) as reached; a page reached before is a problem. */
function markReached(file: BoltFile, node: LeafNode | BranchNode, pgid: number, report: TreeReport): void {
  const span = node.buffer.length / file.pageSize;
  for (let id = pgid; id < pgid + span; id++) {
    if (report.reachable.has(id)) report.pages.add(`${node.where}: overflow page ${id} is also used elsewhere`);
    report.reachable.add(id);
  }
  report.overflowPages += span - 1;
}

/** Walks one bucket's pages; returns its sub-buckets. */
async function walkBucket(file: BoltFile, bucket: BucketRoot, report: TreeReport, signal: AbortSignal | undefined): Promise<BucketRoot[]> {
  const where = `bucket ${bucket.name}`;
  const subBuckets: BucketRoot[] = [];
  const checkLeaf = leafChecker(bucket, report, subBuckets);

  if (bucket.kind === 'inline') {
    checkLeaf(bucket.node, undefined);
    return subBuckets;
  }
  const stack: Frame[] = [{ pgid: bucket.pgid, low: undefined, depth: 0 }];
  let popped = 0;
  for (let frame = stack.pop(); frame !== undefined; frame = stack.pop()) {
    const { pgid } = frame;
    // Pages read from the cache settle without I/O: the walk looks at the signal itself, or runs to its end.
    signal?.throwIfAborted();
    // The top of the stack is exactly what is read next: keep its pages requested, in batches that merge well.
    if (popped++ % (PREFETCH_WINDOW / 2) === 0) file.prefetch(stack.slice(-PREFETCH_WINDOW).map((f) => f.pgid));
    if (Number.isSafeInteger(pgid) && pgid >= 0 && pgid < file.pageCount && report.reachable.has(pgid)) {
      report.pages.add(`${where}: page ${pgid} (offset ${file.offsetOf(pgid)}) is reached twice (a cycle or a shared page)`);
      continue;
    }
    let node: LeafNode | BranchNode;
    try {
      node = await file.readNode(pgid, where);
    } catch (err) {
      if (!(err instanceof SnapshotFormatError)) throw err;
      report.pages.add(err.message);
      continue;
    }
    markReached(file, node, pgid, report);
    if (!(node instanceof BranchNode)) {
      report.leafPages++;
      checkLeaf(node, frame.low);
      continue;
    }
    report.branchPages++;
    if (frame.depth + 1 >= MAX_TREE_DEPTH) {
      report.pages.add(`${node.where}: tree deeper than ${MAX_TREE_DEPTH} levels`);
      continue;
    }
    checkBranch(node, frame.low, report);
    // Pushed in reverse so children are visited in key order (the order check relies on it).
    for (let i = node.count - 1; i >= 0; i--) {
      stack.push({ pgid: node.child(i), low: node.key(i), depth: frame.depth + 1 });
    }
  }
  return subBuckets;
}
