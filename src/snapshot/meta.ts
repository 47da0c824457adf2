import { isAllOnesU64, readU64LE } from './bytes.js';
import { SnapshotFormatError } from './errors.js';
import type { FileSource } from './file-source.js';
import { fnv1a64 } from './fnv.js';

export const META_MAGIC = 0xed0cdaed;
export const META_VERSION = 2;
/** Page header plus meta body: the bytes a meta page needs. */
const META_BYTES = 80;
const MIN_PAGE_SIZE = 512;
const MAX_PAGE_SIZE = 16 * 1024 * 1024;

/** A bbolt meta page whose magic, version, checksum and page size are valid. */
export interface Meta {
  /** 0 or 1: which meta page this is. */
  index: number;
  pageSize: number;
  flags: number;
  /** Root page of the root bucket (whose entries are the top-level buckets). */
  root: number;
  /** Freelist page, or undefined when the freelist is not persisted (etcd on Linux). */
  freelist: number | undefined;
  /** Pages in the file (its high-water mark): the logical size is pgid * pageSize. */
  pgid: number;
  txid: number;
}

/** What was found at one meta page position: the meta, or why it is not valid. */
export interface MetaProbe {
  index: number;
  offset: number;
  meta?: Meta;
  problem?: string;
}

/** Parses and validates the meta page at `offset` (`buf` holds at least its first 80 bytes). */
export function parseMeta(buf: Buffer, index: number, offset: number): MetaProbe {
  const where = { index, offset };
  if (buf.length < META_BYTES) return { ...where, problem: `meta page ${index} at offset ${offset} is cut off` };
  const magic = buf.readUInt32LE(16);
  if (magic !== META_MAGIC) {
    return { ...where, problem: `meta page ${index} at offset ${offset}: bad magic 0x${magic.toString(16)}` };
  }
  const version = buf.readUInt32LE(20);
  if (version !== META_VERSION) {
    return { ...where, problem: `meta page ${index} at offset ${offset}: unsupported version ${version}` };
  }
  const stored = buf.readBigUInt64LE(72);
  const computed = fnv1a64(buf.subarray(16, 72));
  if (stored !== computed) {
    return {
      ...where,
      problem: `meta page ${index} at offset ${offset}: checksum mismatch ` +
        `(stored 0x${stored.toString(16)}, computed 0x${computed.toString(16)})`,
    };
  }
  const pageSize = buf.readUInt32LE(24);
  if (pageSize < MIN_PAGE_SIZE || pageSize > MAX_PAGE_SIZE || (pageSize & (pageSize - 1)) !== 0) {
    return { ...where, problem: `meta page ${index} at offset ${offset}: page size ${pageSize} is not a power of two ` +
      `between ${MIN_PAGE_SIZE} and ${MAX_PAGE_SIZE}` };
  }
  return {
    ...where,
    meta: {
      index,
      pageSize,
      flags: buf.readUInt32LE(28),
      root: readU64LE(buf, 32),
      freelist: isAllOnesU64(buf, 48) ? undefined : readU64LE(buf, 48),
      pgid: readU64LE(buf, 56),
      txid: readU64LE(buf, 64),
    },
  };
}

async function probeAt(source: FileSource, index: number, offset: number): Promise<MetaProbe> {
  if (offset + META_BYTES > source.dataSize) {
    return { index, offset, problem: `meta page ${index} at offset ${offset} lies past the end of the file` };
  }
  return parseMeta(await source.read(offset, META_BYTES, `meta page ${index}`), index, offset);
}

/**
 * Reads both meta pages. The page size comes from meta 0, or, when meta 0 is damaged, from probing 1 KiB..16 MiB for
 * a valid meta 1 (as bbolt does).
 */
export async function probeMetas(source: FileSource): Promise<MetaProbe[]> {
  const first = await probeAt(source, 0, 0);
  let second: MetaProbe | undefined;
  if (first.meta === undefined) {
    for (let i = 0; i < 15 && second === undefined; i++) {
      const probe = await probeAt(source, 1, 1024 << i);
      if (probe.meta !== undefined && probe.meta.pageSize === probe.offset) second = probe;
    }
    second ??= { index: 1, offset: -1, problem: 'meta page 1: no valid meta page found at 1 KiB..16 MiB' };
  } else {
    second = await probeAt(source, 1, first.meta.pageSize);
    if (second.meta !== undefined && second.meta.pageSize !== first.meta.pageSize) {
      second = { index: 1, offset: second.offset, problem: `meta page 1: page size ${second.meta.pageSize} ` +
        `disagrees with meta page 0 (${first.meta.pageSize})` };
    }
  }
  return [first, second];
}

/**
 * The meta bbolt would use: the valid one with the higher txid (meta 0 on a tie). Throws when neither is valid, or
 * when the chosen one does not fit the file (truncated, or a forged root page).
 */
export function chooseMeta(probes: MetaProbe[], dataSize: number): Meta {
  let meta: Meta | undefined;
  for (const probe of probes) {
    if (probe.meta !== undefined && (meta === undefined || probe.meta.txid > meta.txid)) meta = probe.meta;
  }
  if (meta === undefined) {
    const why = probes.map((p) => p.problem).join('; ');
    throw new SnapshotFormatError(`not a bbolt file, or both meta pages are damaged: ${why}`);
  }
  checkMetaFits(meta, dataSize);
  return meta;
}

/** Probes both meta pages and returns the one bbolt would use. */
export async function readMeta(source: FileSource): Promise<Meta> {
  return chooseMeta(await probeMetas(source), source.dataSize);
}

/** Throws when the chosen meta's page count or root page do not fit the file (a truncated or forged file). */
function checkMetaFits(meta: Meta, dataSize: number): void {
  const name = `meta page ${meta.index}`;
  if (meta.pgid < 3) throw new SnapshotFormatError(`${name}: page count ${meta.pgid} is too small for a bbolt file`);
  const logical = meta.pgid * meta.pageSize;
  if (logical > dataSize) {
    throw new SnapshotFormatError(`file is truncated: ${name} says ${meta.pgid} pages of ${meta.pageSize} bytes ` +
      `(${logical} bytes) but the file has ${dataSize} bytes of data`);
  }
  if (meta.root < 2 || meta.root >= meta.pgid) {
    throw new SnapshotFormatError(`${name}: root page ${meta.root} is outside the file (pages 2..${meta.pgid - 1})`);
  }
}
