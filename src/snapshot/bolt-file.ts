import { BranchNode } from './branch-node.js';
import { SnapshotFormatError } from './errors.js';
import type { FileSource } from './file-source.js';
import { LeafNode } from './leaf-node.js';
import type { Meta } from './meta.js';
import { BRANCH_PAGE, LEAF_PAGE, PAGE_HEADER_SIZE, pageTypeName, readPageHeader, type PageHeader } from './page-header.js';

/** A page with its overflow pages: `buffer` spans (overflow + 1) * pageSize bytes. */
export interface RawPage {
  header: PageHeader;
  buffer: Buffer;
}

/** Page-level access to a bbolt file through the meta bbolt would use; every page id is checked against the meta. */
export class BoltFile {
  constructor(
    readonly source: FileSource,
    readonly meta: Meta,
  ) {}

  get pageSize(): number {
    return this.meta.pageSize;
  }

  /** Pages in the file (meta pgid). */
  get pageCount(): number {
    return this.meta.pgid;
  }

  /** Byte offset of a page, for messages. */
  offsetOf(pgid: number): number {
    return pgid * this.meta.pageSize;
  }

  /** Starts reading these pages' first blocks in the background (ids outside the file are ignored). */
  prefetch(pgids: number[]): void {
    const offsets: number[] = [];
    for (const id of pgids) if (Number.isSafeInteger(id) && id >= 2 && id < this.pageCount) offsets.push(this.offsetOf(id));
    this.source.prefetch(offsets);
  }

  /** Reads a page and its overflow; throws when the id, the header's id or the overflow do not fit the file. */
  async readPage(pgid: number, where: string): Promise<RawPage> {
    const cached = this.readPageCached(pgid, where);
    if (cached !== undefined) return cached;
    const head = await this.source.read(this.checkId(pgid, where), PAGE_HEADER_SIZE, `page ${pgid}`);
    const header = this.checkHeader(pgid, head, where);
    const buffer = await this.source.read(this.offsetOf(pgid), this.spanOf(header), `page ${pgid}`);
    return { header, buffer };
  }

  /** `readPage` when the page is cached, undefined otherwise (the same checks, no promise). */
  readPageCached(pgid: number, where: string): RawPage | undefined {
    const head = this.source.readCached(this.checkId(pgid, where), PAGE_HEADER_SIZE, `page ${pgid}`);
    if (head === undefined) return undefined;
    const header = this.checkHeader(pgid, head, where);
    const buffer = this.source.readCached(this.offsetOf(pgid), this.spanOf(header), `page ${pgid}`);
    return buffer === undefined ? undefined : { header, buffer };
  }

  /**
   * The leaf page `pgid` of known span from bytes read elsewhere (a read covering several pages); throws when the
   * bytes are not that leaf (the file changed, or the caller's span is wrong).
   */
  leafFromBytes(pgid: number, span: number, bytes: Buffer, where: string): LeafNode {
    this.checkId(pgid, where);
    const header = this.checkHeader(pgid, bytes, where);
    if (header.overflow + 1 !== span || bytes.length !== span * this.pageSize) {
      throw new SnapshotFormatError(`page ${pgid} (offset ${this.offsetOf(pgid)}) in ${where}: changed while being read`);
    }
    const node = this.toNode(pgid, { header, buffer: bytes }, where);
    if (!(node instanceof LeafNode)) {
      throw new SnapshotFormatError(`page ${pgid} (offset ${this.offsetOf(pgid)}) in ${where}: changed while being read`);
    }
    return node;
  }

  /**
   * The first bytes of leaf page `pgid` of known span, read elsewhere (see readNodeHead): a node that is not
   * `complete` when the page spans more; throws when the bytes are not that leaf.
   */
  leafHeadFromBytes(pgid: number, span: number, bytes: Buffer, where: string): LeafNode {
    this.checkId(pgid, where);
    const header = this.checkHeader(pgid, bytes, where);
    if (header.flags !== LEAF_PAGE || header.overflow + 1 !== span || bytes.length > span * this.pageSize) {
      throw new SnapshotFormatError(`page ${pgid} (offset ${this.offsetOf(pgid)}) in ${where}: changed while being read`);
    }
    return this.headNode(pgid, header, bytes, where);
  }

  /** Reads a branch or leaf page of a bucket's tree. */
  async readNode(pgid: number, where: string): Promise<LeafNode | BranchNode> {
    return this.toNode(pgid, await this.readPage(pgid, where), where);
  }

  /** `readNode` when the page is cached, undefined otherwise. */
  readNodeCached(pgid: number, where: string): LeafNode | BranchNode | undefined {
    const page = this.readPageCached(pgid, where);
    return page === undefined ? undefined : this.toNode(pgid, page, where);
  }

  /**
   * A branch page, or a leaf page of which only the first `headBytes` are read when it spans more than `above` (a value of
   * megabytes in its overflow pages): such a node is not `complete`, its keys and the heads of its values readable.
   * A walk that needs keys but not whole values (the pass that locates live keys) reads a fraction of the file so.
   */
  async readNodeHead(pgid: number, where: string, headBytes: number, above = headBytes): Promise<LeafNode | BranchNode> {
    const cached = this.readNodeHeadCached(pgid, where, headBytes, above);
    if (cached !== undefined) return cached;
    const header = this.checkHeader(pgid, await this.source.read(this.checkId(pgid, where), PAGE_HEADER_SIZE, `page ${pgid}`), where);
    if (header.flags !== LEAF_PAGE || this.spanOf(header) <= Math.max(headBytes, above)) return this.readNode(pgid, where);
    // Around the cache: its read-ahead would go on through the overflow pages this read is meant to skip.
    const head = Buffer.allocUnsafe(headBytes);
    await this.source.readInto(head, this.offsetOf(pgid), `page ${pgid}`);
    return this.headNode(pgid, header, head, where);
  }

  /** `readNodeHead` when the bytes it needs are cached, undefined otherwise. */
  readNodeHeadCached(pgid: number, where: string, headBytes: number, above = headBytes): LeafNode | BranchNode | undefined {
    const first = this.source.readCached(this.checkId(pgid, where), PAGE_HEADER_SIZE, `page ${pgid}`);
    if (first === undefined) return undefined;
    const header = this.checkHeader(pgid, first, where);
    if (header.flags !== LEAF_PAGE || this.spanOf(header) <= Math.max(headBytes, above)) return this.readNodeCached(pgid, where);
    const head = this.source.readCached(this.offsetOf(pgid), headBytes, `page ${pgid}`);
    return head === undefined ? undefined : this.headNode(pgid, header, head, where);
  }

  private headNode(pgid: number, header: PageHeader, head: Buffer, where: string): LeafNode {
    const label = `page ${pgid} (offset ${this.offsetOf(pgid)}) in ${where}`;
    return new LeafNode(head, 0, head.length, pgid, header.count, label, this.spanOf(header));
  }

  private checkId(pgid: number, where: string): number {
    if (!Number.isSafeInteger(pgid) || pgid < 2 || pgid >= this.pageCount) {
      throw new SnapshotFormatError(`${where}: page id ${pgid} is outside the file (data pages are 2..${this.pageCount - 1})`);
    }
    return this.offsetOf(pgid);
  }

  private checkHeader(pgid: number, head: Buffer, where: string): PageHeader {
    const header = readPageHeader(head, 0);
    if (header.id !== pgid) {
      throw new SnapshotFormatError(`page ${pgid} (offset ${this.offsetOf(pgid)}) in ${where}: page header says it is page ${header.id}`);
    }
    if (pgid + header.overflow >= this.pageCount) {
      throw new SnapshotFormatError(`page ${pgid} (offset ${this.offsetOf(pgid)}) in ${where}: overflow of ` +
        `${header.overflow} pages runs past the last page (${this.pageCount - 1})`);
    }
    return header;
  }

  private spanOf(header: PageHeader): number {
    return (header.overflow + 1) * this.pageSize;
  }

  private toNode(pgid: number, { header, buffer }: RawPage, where: string): LeafNode | BranchNode {
    const label = `page ${pgid} (offset ${this.offsetOf(pgid)}) in ${where}`;
    if (header.flags === LEAF_PAGE) return new LeafNode(buffer, 0, buffer.length, pgid, header.count, label);
    // Walks keep branch nodes while reading their children: a copy stays valid even on a recycling source.
    if (header.flags === BRANCH_PAGE) return new BranchNode(Buffer.from(buffer), pgid, header.count, label);
    throw new SnapshotFormatError(`${label}: is a ${pageTypeName(header.flags)} page, expected a branch or leaf page`);
  }
}
