import type { BoltFile } from './bolt-file.js';
import { hasPrefix } from './bytes.js';
import type { BucketRoot } from './bucket.js';
import { SnapshotFormatError, SnapshotRevisionError } from './errors.js';
import { compactedRevision, KEY_BUCKET, requireBucket } from './etcd-buckets.js';
import { SpillingLocations, type KeyLocation, type SpillArea } from './key-spill.js';
import { BIG_LEAF_BYTES, inBigLeaf, LEAF_HEAD_BYTES, readBigValues } from './big-values.js';
import { decodeKeyValue, decodeUserKey, userKeyFromHead, type KeyValueRecord } from './key-value.js';
import { parseRevisionKey } from './revision.js';
import { leafNodes } from './tree-walk.js';
import { freeBuffer, readLeaves, type LeafRef } from './read-leaves.js';
import { LeafNode } from './leaf-node.js';

/** Which keys `liveKeys` returns: the state at a revision, optionally under a prefix. */
export interface LiveKeysOptions {
  /** State at this revision; undefined or 0 means the latest, as in `etcdctl get --rev`. */
  revision?: number;
  /** Only keys starting with these bytes. */
  prefix?: Buffer | string;
  /**
   * Only keys starting with one of these (with `prefix`, with one of these as well): several ranges in one pass over
   * the key bucket, where a walk per prefix reads the whole bucket once per prefix.
   */
  prefixes?: readonly Buffer[];
  /**
   * Stops the walk once aborted, throwing the signal's reason: checked at every leaf of the key bucket (the pass that
   * finds the keys yields none, and takes seconds per million revisions) and at every key given.
   */
  signal?: AbortSignal;
  /** Where the locations of more keys than `keysInMemory` go (see SpillArea); a folder in the system's by default. */
  spillArea?: () => Promise<SpillArea>;
  /** Keys whose locations are held in memory before they go to disk (default KEYS_IN_MEMORY). */
  keysInMemory?: number;
  /**
   * Told, after each leaf of the key bucket, how many revisions the pass that locates the keys has gone through: that
   * pass yields no key, and takes seconds per million revisions (a progress report counts them meanwhile).
   */
  onScanned?: (revisions: number) => void;
  /**
   * Values that are views of one buffer the walk reuses, each valid only until the next key is asked for (keys are
   * still copies): for a reader that keeps no value (`stats`). Copies are garbage V8 frees only once ~64 MB of them
   * have piled up.
   */
  transientValues?: boolean;
}

/**
 * A key as `etcdctl get` would return it at the requested revision: the mvccpb.KeyValue record, with buffers that are
 * copies the caller may keep. Readers above the snapshot take it as a KeyRecord (ops/backup-keys.ts).
 */
export type LiveKey = KeyValueRecord;

/** Values read back per batch: bounds the memory of one batch of pages. */
const BATCH_BYTES = 32 * 1024 * 1024;
const BATCH_KEYS = 8192;
/**
 * Cache of the pass that locates keys: its read-ahead (four streams of 1 MiB runs) and the next 64 children of the
 * branch it walks. The default 48 MiB held 48 MiB of pages passed long ago, which V8 then kept as garbage as long.
 */
const LOCATE_CACHE_BYTES = 16 * 1024 * 1024;
/** Key locations held in memory (~130 bytes each: ~30 MB) before they are written to sorted runs on disk. */
const KEYS_IN_MEMORY = 250_000;

/**
 * Where each live user key's newest revision <= R lives, into `locations`. The key bucket is ordered by revision, so
 * this needs one pass over it, holding only keys and locations, never values (and past a bound, not those either);
 * of a leaf of big values only the head is read.
 */
async function locateLiveKeys(
  file: BoltFile,
  bucket: BucketRoot,
  revision: number,
  wanted: (userKey: Buffer) => boolean,
  signal: AbortSignal | undefined,
  locations: SpillingLocations,
  onScanned?: (revisions: number) => void,
): Promise<{ lastMain: number }> {
  let lastMain = 0;
  let scanned = 0;
  for await (const head of leafNodes(file, bucket, undefined, { bytes: LEAF_HEAD_BYTES, above: BIG_LEAF_BYTES })) {
    signal?.throwIfAborted();
    scanned += head.count;
    onScanned?.(scanned);
    let leaf = head;
    const span = leaf.spanBytes / file.pageSize;
    for (let i = 0; i < leaf.count; i++) {
      if (leaf.isBucket(i)) throw new SnapshotFormatError(`${leaf.where}: element ${i} of bucket "key" is a bucket`);
      let element = leaf.complete ? undefined : headElement(leaf, i) ?? (await readElementHead(file, leaf, i));
      if (element === undefined && !leaf.complete) leaf = await wholeLeaf(file, leaf);
      const rev = parseRevisionKey(element?.key ?? leaf.key(i), leaf.where);
      if (rev.main > revision) return { lastMain: rev.main };
      lastMain = rev.main;
      const userKey = element?.userKey ?? decodeUserKey(leaf.value(i), `${leaf.where} element ${i}`);
      element = undefined;
      if (!wanted(userKey)) continue;
      // latin1 maps bytes 1:1 to one-byte string characters: exact, compact, and sorts in byte order.
      const name = userKey.toString('latin1');
      if (rev.tombstone) await locations.delete(name);
      else await locations.set(name, leaf.pgid, i, span, leaf.valueSize(i));
    }
  }
  return { lastMain };
}

/** An element's revision key and user key (views: used before the next read). */
interface ElementHead {
  key: Buffer;
  userKey: Buffer;
}

/** Element i of a leaf read in part, when its revision key and its value's first field (etcd's key) are in the head. */
function headElement(leaf: LeafNode, i: number): ElementHead | undefined {
  if (!leaf.hasKey(i)) return undefined;
  const userKey = userKeyFromHead(leaf.value(i));
  return userKey === undefined ? undefined : { key: leaf.key(i), userKey };
}

/**
 * Element i of a leaf read in part, read at its place in the page (a leaf holds up to four values of a megabyte: the
 * second one's key lies a megabyte in); undefined when its user key is not at the head of its value.
 */
async function readElementHead(file: BoltFile, leaf: LeafNode, i: number): Promise<ElementHead | undefined> {
  const keySize = leaf.keySize(i);
  const bytes = Buffer.allocUnsafe(keySize + Math.min(leaf.valueSize(i), LEAF_HEAD_BYTES));
  const at = leaf.keyStart(i) - leaf.start;
  await file.source.readInto(bytes, file.offsetOf(leaf.pgid) + at, `page ${leaf.pgid} element ${i}`);
  const userKey = userKeyFromHead(bytes.subarray(keySize));
  return userKey === undefined ? undefined : { key: bytes.subarray(0, keySize), userKey };
}

/** The whole page of a leaf read only in part. */
async function wholeLeaf(file: BoltFile, head: LeafNode): Promise<LeafNode> {
  const node = await file.readNode(head.pgid, 'bucket "key"');
  if (!(node instanceof LeafNode) || node.count !== head.count) {
    throw new SnapshotFormatError(`${head.where}: changed while being read`);
  }
  return node;
}

/** Whether a user key is under `prefix` and, when `prefixes` are given, under one of them. */
function keyFilter(prefix: Buffer, prefixes: readonly Buffer[] | undefined): (userKey: Buffer) => boolean {
  if (prefixes === undefined) return (userKey) => hasPrefix(userKey, prefix);
  return (userKey) => hasPrefix(userKey, prefix) && prefixes.some((p) => hasPrefix(userKey, p));
}

/** Checks a requested revision against what the snapshot holds, as etcd does (ErrCompacted, ErrFutureRev). */
function checkRevision(requested: number, compacted: number, latest: number): void {
  if (requested < compacted) {
    throw new SnapshotRevisionError(`revision ${requested} has been compacted; the oldest revision in this snapshot is ${compacted}`);
  }
  if (requested > latest) {
    throw new SnapshotRevisionError(`revision ${requested} is newer than this snapshot (latest revision ${latest})`);
  }
}

/** Splits the sorted keys into batches whose pages fit BATCH_BYTES (a single huge value forms its own batch). */
async function* batches(keys: AsyncIterable<KeyLocation>, pageSize: number): AsyncGenerator<KeyLocation[]> {
  let batch: KeyLocation[] = [];
  let bytes = 0;
  for await (const key of keys) {
    // A big leaf's value is read alone (readBigValues); another's whole page is read.
    const cost = inBigLeaf(key, pageSize) ? key.valueSize : Math.max(key.span * pageSize, key.valueSize);
    if (batch.length > 0 && (bytes + cost > BATCH_BYTES || batch.length >= BATCH_KEYS)) {
      yield batch;
      batch = [];
      bytes = 0;
    }
    batch.push(key);
    bytes += cost;
  }
  if (batch.length > 0) yield batch;
}

/**
 * The keys live at a revision (default: the latest), in key order like an etcd range, with their values and
 * metadata. One pass over the key bucket finds each key's location; values are then read back in batches, each
 * batch's pages read once, in file order, several at a time.
 */
export async function* liveKeysOf(file: BoltFile, opts: LiveKeysOptions = {}): AsyncGenerator<LiveKey> {
  const requested = opts.revision ?? 0;
  if (!Number.isSafeInteger(requested) || requested < 0) {
    throw new SnapshotRevisionError(`revision must be a non-negative integer, got ${requested}`);
  }
  const prefix = typeof opts.prefix === 'string' ? Buffer.from(opts.prefix) : opts.prefix ?? Buffer.alloc(0);
  const bucket = await requireBucket(file, KEY_BUCKET);
  const compacted = requested > 0 ? await compactedRevision(file) : 0;
  // Checked before the scan too, so a compacted request fails fast.
  if (requested > 0 && requested < compacted) checkRevision(requested, compacted, Infinity);
  const { signal } = opts;
  const locations = new SpillingLocations(opts.keysInMemory ?? KEYS_IN_MEMORY, opts.spillArea);
  try {
    // The walk goes through the key bucket's pages nearly in file order: what it reads ahead is all it needs cached.
    // It keeps nothing of a page but the locations it finds (branch pages are copies): for a reader of transient values
    // (stats), pages passed are freed at once. Restores and diffs keep V8's own freeing, which needs no such proof.
    const unbound = file.source.boundCache(LOCATE_CACHE_BYTES, { release: opts.transientValues === true });
    let located: { lastMain: number };
    try {
      located = await locateLiveKeys(file, bucket, requested > 0 ? requested : Infinity, keyFilter(prefix, opts.prefixes), signal, locations, opts.onScanned);
    } finally {
      unbound();
    }
    const { lastMain } = located;
    if (requested > 0 && requested > lastMain) checkRevision(requested, compacted, Math.max(lastMain, compacted));
    // Values are read around the cache (readLeaves): the key bucket's pages it holds (48 MiB) would only take memory.
    file.source.dropCache();
    const inline = bucket.kind === 'inline' ? bucket.node : undefined;
    const values = opts.transientValues ? new ValueArea() : undefined;
    for await (const batch of batches(locations.sorted(), file.pageSize)) {
      signal?.throwIfAborted();
      for (const kv of await readBatch(file, inline, batch, values)) {
        signal?.throwIfAborted();
        yield kv;
      }
    }
  } finally {
    await locations.close();
  }
}

/**
 * The buffer the values of a batch are copied into when they are transient (LiveKeysOptions.transientValues): as big
 * as the largest batch's values, reused by the next batch.
 */
class ValueArea {
  private area = Buffer.alloc(0);
  private used = 0;
  /** The buffers of the last batch's big values (read alone, each into one of its own). */
  private big: ArrayBufferLike[] = [];

  /** Makes room for the values of `batch` but those of big leaves (read into buffers of their own). */
  start(batch: KeyLocation[], pageSize: number): void {
    // The last batch's values are no longer valid (the next key was asked for): big ones are freed at once.
    for (const buffer of this.big) freeBuffer(Buffer.from(buffer));
    this.big = [];
    let bytes = 0;
    // An element's value (etcd's whole KeyValue record) holds the user value: its size bounds the copy's.
    for (const loc of batch) if (!inBigLeaf(loc, pageSize)) bytes += loc.valueSize;
    if (this.area.length < bytes) {
      // The last batch's values are no longer valid (the next key was asked for): their memory is freed at once.
      freeBuffer(this.area);
      this.area = Buffer.allocUnsafe(Math.max(bytes, Math.min(2 * this.area.length, BATCH_BYTES)));
    }
    this.used = 0;
  }

  /**
   * A value read alone (a view of the element's `size` bytes), its buffer freed when the next batch starts; unless
   * it came from Buffer's shared pool (under half its size), which other buffers use.
   */
  keepBig(value: Buffer, size: number): void {
    if (size >= Buffer.poolSize >>> 1 && value.buffer.byteLength === size) this.big.push(value.buffer);
  }

  /** `value` copied into the area: a view of it. */
  copy(value: Uint8Array): Buffer {
    const at = this.used;
    this.area.set(value, at);
    this.used += value.length;
    return this.area.subarray(at, this.used);
  }
}

/**
 * The batch's keys with their values, in batch order; each page read once, values copied out of it, but for big
 * leaves, whose live values are read alone (readBigValues).
 */
async function readBatch(
  file: BoltFile,
  inline: LeafNode | undefined,
  batch: KeyLocation[],
  values: ValueArea | undefined,
): Promise<LiveKey[]> {
  const out: LiveKey[] = new Array<LiveKey>(batch.length);
  values?.start(batch, file.pageSize);
  const onPage = new Map<number, number[]>();
  const refs: LeafRef[] = [];
  const big: number[] = [];
  batch.forEach((loc, at) => {
    if (inBigLeaf(loc, file.pageSize)) return void big.push(at);
    const waiting = onPage.get(loc.pgid);
    if (waiting !== undefined) {
      waiting.push(at);
      return;
    }
    onPage.set(loc.pgid, [at]);
    if (loc.pgid !== 0) refs.push({ pgid: loc.pgid, span: loc.span });
  });
  const take = (leaf: LeafNode): void => {
    for (const at of onPage.get(leaf.pgid) ?? []) {
      const { index } = batch[at]!;
      const kv = decodeKeyValue(leaf.value(index), `${leaf.where} element ${index}`);
      out[at] = {
        key: Buffer.from(kv.key),
        value: values === undefined ? Buffer.from(kv.value) : values.copy(kv.value),
        createRevision: kv.createRevision,
        modRevision: kv.modRevision,
        version: kv.version,
        lease: kv.lease,
      };
    }
  };
  if (inline !== undefined) take(inline);
  await readLeaves(file, refs, take);
  await readBigValues(file, big.map((at) => batch[at]!), (i, kv) => {
    out[big[i]!] = kv;
    values?.keepBig(kv.value, batch[big[i]!]!.valueSize);
  });
  return out;
}
