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

  /** Reads a page and its overflow; throws when the id, the header's id or the overflow do not fit the file. */
  async readPage(pgid: number, where: string): Promise<RawPage> {
    if (!Number.isSafeInteger(pgid) || pgid < 2 || pgid >= this.pageCount) {
      throw new SnapshotFormatError(`${where}: page id ${pgid} is outside the file (data pages are 2..${this.pageCount - 1})`);
    }
    const offset = this.offsetOf(pgid);
    const head = await this.source.read(offset, PAGE_HEADER_SIZE, `page ${pgid}`);
    const header = readPageHeader(head, 0);
    const label = `page ${pgid} (offset ${offset})`;
    if (header.id !== pgid) {
      throw new SnapshotFormatError(`${label} in ${where}: page header says it is page ${header.id}`);
    }
    if (pgid + header.overflow >= this.pageCount) {
      throw new SnapshotFormatError(`${label} in ${where}: overflow of ${header.overflow} pages runs past the last page ` +
        `(${this.pageCount - 1})`);
    }
    const buffer = await this.source.read(offset, (header.overflow + 1) * this.pageSize, label);
    return { header, buffer };
  }

  /** Reads a branch or leaf page of a bucket's tree. */
  async readNode(pgid: number, where: string): Promise<LeafNode | BranchNode> {
    const { header, buffer } = await this.readPage(pgid, where);
    const label = `page ${pgid} (offset ${this.offsetOf(pgid)}) in ${where}`;
    if (header.flags === LEAF_PAGE) return new LeafNode(buffer, 0, buffer.length, pgid, header.count, label);
    if (header.flags === BRANCH_PAGE) return new BranchNode(buffer, pgid, header.count, label);
    throw new SnapshotFormatError(`${label}: is a ${pageTypeName(header.flags)} page, expected a branch or leaf page`);
  }
}
