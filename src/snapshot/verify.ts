import { BoltFile } from './bolt-file.js';
import { SnapshotFormatError } from './errors.js';
import { FileSource } from './file-source.js';
import { chooseMeta, probeMetas, type Meta, type MetaProbe } from './meta.js';
import { checkTrailer, type TrailerState } from './trailer.js';
import { failed, passed, ProblemList, warned, type VerifyCheck } from './verify-check.js';
import { checkKeyBucket } from './verify-etcd.js';
import { checkFreelist, type FreelistReport } from './verify-freelist.js';
import { walkAllBuckets, type TreeReport } from './verify-tree.js';

/**
 * Cache of the walks of a verify: each page is read once in a walk, nearly in file order, so what the walk reads
 * ahead (64 children, four streams of 1 MiB runs) is all it needs cached. The default 48 MiB held pages passed long
 * ago, and with V8's garbage of blocks evicted, `verify` of a 414 MB snapshot peaked at ~250 MB RSS against ~135 MB
 * for a 33 MB one.
 */
export const VERIFY_CACHE_BYTES = 8 * 1024 * 1024;

function metaChecks(probes: MetaProbe[]): VerifyCheck[] {
  const anyValid = probes.some((p) => p.meta !== undefined);
  return probes.map((p) => {
    const name = `meta page ${p.index}`;
    if (p.meta !== undefined) {
      return passed(name, `txid ${p.meta.txid}, root page ${p.meta.root}, ${p.meta.pgid} pages of ${p.meta.pageSize} bytes`);
    }
    // One damaged meta is what an interrupted commit leaves behind; bbolt falls back to the other.
    return anyValid ? warned(name, `${p.problem} (the other meta page is used)`) : failed(name, p.problem ?? 'invalid');
  });
}

function sizeCheck(source: FileSource, meta: Meta): VerifyCheck {
  const logical = meta.pgid * meta.pageSize;
  const data = source.dataSize;
  if (data === logical) return passed('file size', `${data} bytes of data${source.hasTrailer ? ' + 32-byte sha256 trailer' : ''}`);
  if (!source.hasTrailer) return passed('file size', `${data} bytes, ${logical} in use (a raw bbolt file grows ahead)`);
  return warned('file size', `${data - logical} bytes between the last page (${logical}) and the sha256 trailer`);
}

function trailerCheck(state: TrailerState | Error): VerifyCheck {
  if (state instanceof Error) return failed('sha256 trailer', state.message);
  if (state === 'match') return passed('sha256 trailer', 'matches the data');
  if (state === 'mismatch') return failed('sha256 trailer', 'does not match the data (the file was changed or damaged)');
  return passed('sha256 trailer', 'absent (a raw bbolt file, not `etcdctl snapshot save` output)');
}

function treeChecks(tree: TreeReport): VerifyCheck[] {
  return [
    tree.pages.toCheck('pages', `${tree.buckets} buckets, ${tree.keys} elements; ${tree.branchPages} branch, ` +
      `${tree.leafPages} leaf and ${tree.overflowPages} overflow pages, each reached once`),
    tree.order.toCheck('key order', 'keys sorted in every bucket'),
  ];
}

/** Every page is reachable, free, or a meta/freelist page, and never two of these (as bbolt's own check demands). */
function accountingCheck(file: BoltFile, tree: TreeReport, freelist: FreelistReport): VerifyCheck {
  const name = 'page accounting';
  const { free, own } = freelist;
  if (free === undefined || own === undefined) {
    const unreachable = file.pageCount - 2 - tree.reachable.size();
    return passed(name, `${unreachable} of ${file.pageCount} pages unreachable, counted as free`);
  }
  const problems = new ProblemList();
  for (let id = 2; id < file.pageCount; id++) {
    const used = tree.reachable.has(id) || own.has(id);
    if (used && free.has(id)) problems.add(`page ${id} is both in use and listed as free`);
    if (!used && !free.has(id)) problems.add(`page ${id} is neither reachable nor free`);
  }
  return problems.toCheck(name, 'every page is in use or free, never both');
}

/**
 * Checks a snapshot file as a whole: both meta pages, size and trailer, freelist, every page of every bucket (bounds,
 * element bounds, key order, no page reached twice), page accounting, and etcd's key bucket. Returns one line per
 * check; a damaged file gives failed checks, not an exception.
 */
export async function verifySource(source: FileSource, signal?: AbortSignal): Promise<VerifyCheck[]> {
  const probes = await probeMetas(source);
  const checks = metaChecks(probes);
  let meta: Meta;
  try {
    meta = chooseMeta(probes, source.dataSize);
  } catch (err) {
    if (!(err instanceof SnapshotFormatError)) throw err;
    checks.push(failed('meta in use', err.message));
    return checks;
  }
  // Hashing is independent of the walk; settle it into a value so a walk error cannot leave it unhandled.
  // A stop (the signal) is thrown, not a finding: only a failure of the hash is the trailer's check.
  const trailer = checkTrailer(source, signal).catch((err: unknown) => (signal?.aborted ? signal.reason : err instanceof Error ? err : new Error(String(err))) as Error);
  const file = new BoltFile(source, meta);
  checks.push(passed('meta in use', `meta page ${meta.index} (txid ${meta.txid})`), sizeCheck(source, meta));
  const unbound = source.boundCache(VERIFY_CACHE_BYTES);
  try {
    const freelist = await checkFreelist(file);
    checks.push(freelist.check);
    const tree = await walkAllBuckets(file, signal);
    checks.push(...treeChecks(tree), accountingCheck(file, tree, freelist));
    checks.push(await checkKeyBucket(file, signal));
  } finally {
    unbound();
  }
  const hashed = await trailer;
  signal?.throwIfAborted();
  checks.push(trailerCheck(hashed));
  return checks;
}

/**
 * Tells of a walk as it goes: called once it starts with a function giving the bytes it has read so far; returns
 * what stops the telling.
 */
export type WalkWatch = (bytesRead: () => number) => () => void;

/**
 * Opens `path` and verifies it (see verifySource); `watch` is told of the walk as it goes; `signal` stops the walk
 * (and the hash of the trailer) at the next page, throwing its reason.
 */
export async function verifyFile(path: string, watch?: WalkWatch, signal?: AbortSignal): Promise<VerifyCheck[]> {
  const source = await FileSource.open(path);
  const stop = watch?.(() => source.bytesRead);
  try {
    return await verifySource(source, signal);
  } finally {
    stop?.();
    await source.close();
  }
}
