import type { BoltFile } from './bolt-file.js';
import { BranchNode } from './branch-node.js';
import { MAX_TREE_DEPTH, type BucketRoot } from './bucket.js';
import { SnapshotFormatError } from './errors.js';
import type { LeafNode } from './leaf-node.js';
import { PageSet } from './page-set.js';

/** Records a page (with its overflow) as visited; a second visit means a cycle or a page shared by two parents. */
function visit(file: BoltFile, seen: PageSet, node: LeafNode | BranchNode, where: string): void {
  const pages = node.buffer.length / file.pageSize;
  for (let id = node.pgid; id < node.pgid + pages; id++) {
    if (seen.has(id)) {
      throw new SnapshotFormatError(`${where}: page ${id} (offset ${file.offsetOf(id)}) is reached twice ` +
        '(a cycle or a page shared by two parents)');
    }
    seen.add(id);
  }
}

/**
 * Yields a bucket's leaf nodes in key order (depth-first over branch pages). `seen` tracks every page visited, so a
 * forged file whose branches point back up the tree, or fan out to the same child, fails fast instead of looping.
 * Pass one set to several walks to require that they share no page.
 */
export async function* leafNodes(
  file: BoltFile,
  bucket: BucketRoot,
  seen: PageSet = new PageSet(file.pageCount),
): AsyncGenerator<LeafNode> {
  if (bucket.kind === 'inline') {
    yield bucket.node;
    return;
  }
  const where = `bucket ${bucket.name}`;
  const stack: { node: BranchNode; next: number }[] = [];
  let pgid = bucket.pgid;
  for (;;) {
    const node = await file.readNode(pgid, where);
    visit(file, seen, node, where);
    if (node instanceof BranchNode) {
      if (stack.length >= MAX_TREE_DEPTH) {
        throw new SnapshotFormatError(`${where}: tree deeper than ${MAX_TREE_DEPTH} levels at page ${pgid}`);
      }
      stack.push({ node, next: 1 });
      pgid = node.child(0);
      continue;
    }
    yield node;
    let top = stack.at(-1);
    while (top !== undefined && top.next >= top.node.count) {
      stack.pop();
      top = stack.at(-1);
    }
    if (top === undefined) return;
    pgid = top.node.child(top.next++);
  }
}
