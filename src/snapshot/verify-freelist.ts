import type { BoltFile } from './bolt-file.js';
import { SnapshotFormatError } from './errors.js';
import { FREELIST_PAGE, PAGE_HEADER_SIZE, pageTypeName } from './page-header.js';
import { PageSet } from './page-set.js';
import { readU64LE } from './bytes.js';
import { failed, passed, ProblemList, type VerifyCheck } from './verify-check.js';

/** The freelist check, and when the freelist is persisted and readable, its pages and the free ids it lists. */
export interface FreelistReport {
  check: VerifyCheck;
  /** Pages the freelist itself occupies. */
  own?: PageSet;
  free?: PageSet;
}

/** bbolt stores a freelist count >= 0xFFFF in the first u64 after the header. */
const COUNT_OVERFLOW = 0xffff;

/**
 * Checks the freelist the meta names. etcd does not persist it on Linux; when it is persisted it must be a freelist
 * page listing in-range ids, or bbolt (and `etcdctl snapshot status`) refuse the file.
 */
export async function checkFreelist(file: BoltFile): Promise<FreelistReport> {
  const name = 'freelist';
  const id = file.meta.freelist;
  const metaName = `meta page ${file.meta.index}`;
  if (id === undefined) {
    return { check: passed(name, 'not persisted (etcd default): free pages are the unreachable ones') };
  }
  let page;
  try {
    page = await file.readPage(id, `the freelist named by ${metaName}`);
  } catch (err) {
    if (err instanceof SnapshotFormatError) return { check: failed(name, err.message) };
    throw err;
  }
  const { header, buffer } = page;
  if (header.flags !== FREELIST_PAGE) {
    return {
      check: failed(name, `${metaName} names page ${id} as the freelist, but page ${id} is a ` +
        `${pageTypeName(header.flags)} page (bbolt and etcdctl refuse to open this file; keys are still readable)`),
    };
  }
  let count = header.count;
  let start = PAGE_HEADER_SIZE;
  if (count === COUNT_OVERFLOW) {
    count = buffer.length >= start + 8 ? readU64LE(buffer, start) : Infinity;
    start += 8;
  }
  if (start + count * 8 > buffer.length) {
    return { check: failed(name, `freelist page ${id}: ${count} ids do not fit in its ${buffer.length} bytes`) };
  }
  const own = new PageSet(file.pageCount);
  for (let p = id; p <= id + header.overflow; p++) own.add(p);
  const free = new PageSet(file.pageCount);
  const problems = new ProblemList();
  for (let i = 0; i < count; i++) {
    const freeId = readU64LE(buffer, start + i * 8);
    if (freeId < 2 || freeId >= file.pageCount) problems.add(`free id ${freeId} is outside the file`);
    else if (free.has(freeId)) problems.add(`page ${freeId} is listed twice`);
    else free.add(freeId);
  }
  if (problems.total > 0) return { check: problems.toCheck(name, '') };
  return { check: passed(name, `page ${id} lists ${count} free pages`), own, free };
}
