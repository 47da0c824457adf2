import { readU64LE } from './bytes.js';

export const PAGE_HEADER_SIZE = 16;
export const ELEMENT_SIZE = 16;

export const BRANCH_PAGE = 0x01;
export const LEAF_PAGE = 0x02;
export const META_PAGE = 0x04;
export const FREELIST_PAGE = 0x10;

/** Leaf element flag: the value is a sub-bucket header, not user data. */
export const BUCKET_LEAF_FLAG = 0x01;

/** The 16-byte header every bbolt page starts with. */
export interface PageHeader {
  id: number;
  flags: number;
  count: number;
  overflow: number;
}

/** Parses the page header at `at`. */
export function readPageHeader(buf: Buffer, at: number): PageHeader {
  return {
    id: readU64LE(buf, at),
    flags: buf.readUInt16LE(at + 8),
    count: buf.readUInt16LE(at + 10),
    overflow: buf.readUInt32LE(at + 12),
  };
}

/** A page type's name for messages ("leaf", "branch", "flags 0x0"). */
export function pageTypeName(flags: number): string {
  switch (flags) {
    case BRANCH_PAGE: return 'branch';
    case LEAF_PAGE: return 'leaf';
    case META_PAGE: return 'meta';
    case FREELIST_PAGE: return 'freelist';
    default: return `unknown (flags 0x${flags.toString(16)})`;
  }
}
