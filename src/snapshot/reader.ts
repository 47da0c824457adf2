import { BoltFile } from './bolt-file.js';
import { findBucket, rootBucket } from './bucket.js';
import { bucketEntries, type BucketEntry } from './cursor.js';
import { FileSource, type FileSourceOptions } from './file-source.js';
import type { LeaseRecord } from './leases.js';
import type { LiveKey, LiveKeysOptions } from './live-keys.js';
import type { SpillArea } from './key-spill.js';
import { readMeta } from './meta.js';
import { scanPages } from './page-scan.js';
import { boltStatus, type BoltStatus } from './status.js';
import { trailerCheckForScan, type TrailerState } from './trailer.js';
import type { VerifyCheck } from './verify-check.js';
import type { WalkWatch } from './verify.js';

// Key reads, leases and the structural check load on first use: `inspect` of a status (the common offline call)
// then pays for a third of the modules, and module loading is a good part of its run time.

/** `etcdctl snapshot status` numbers plus the state of etcd's sha256 trailer. */
export interface SnapshotStatus extends BoltStatus {
  trailer: TrailerState;
}

/** Read-only access to an etcd snapshot (or a raw member/snap/db) without running etcd. */
export interface SnapshotReader {
  readonly path: string;
  readonly pageSize: number;
  /**
   * hash, revision, totalKey and totalSize as `etcdctl snapshot status` (3.4) computes them, and the trailer state;
   * the reader's signal stops it, as it stops the walks of keys.
   */
  status(): Promise<SnapshotStatus>;
  /** The status's revision, read from the end of the key bucket alone (a few pages): the revision `liveKeys` reads by default. */
  latestRevision(): Promise<number>;
  /** Keys live at a revision (default latest), in key order, as `etcdctl get --prefix` returns them. */
  liveKeys(opts?: LiveKeysOptions): AsyncIterable<LiveKey>;
  /** Leases persisted in the snapshot. */
  leases(): Promise<LeaseRecord[]>;
  /** Elements of a top-level bucket in key order (views into cached pages: copy what you keep). */
  entries(bucket: string): AsyncIterable<BucketEntry>;
  /** A full structural check of the file; `watch` is told of the walk as it goes (see WalkWatch). */
  verify(watch?: WalkWatch): Promise<VerifyCheck[]>;
  close(): Promise<void>;
}

/** How a snapshot is opened: the cache's sizes, and the signal that stops its walks of keys. */
export interface OpenSnapshotOptions extends FileSourceOptions {
  /** The default `signal` of every `liveKeys` walk (see LiveKeysOptions): a walk stops with its reason. */
  signal?: AbortSignal;
  /** Where `liveKeys` walks of many keys write what does not fit in memory (see LiveKeysOptions.spillArea). */
  spillArea?: () => Promise<SpillArea>;
}

class FileSnapshotReader implements SnapshotReader {
  constructor(
    private readonly source: FileSource,
    private readonly file: BoltFile,
    private readonly signal: AbortSignal | undefined,
    private readonly spillArea: (() => Promise<SpillArea>) | undefined,
  ) {}

  get path(): string {
    return this.source.path;
  }

  get pageSize(): number {
    return this.file.pageSize;
  }

  async status(): Promise<SnapshotStatus> {
    const trailer = trailerCheckForScan(this.source, this.file.pageCount * this.file.pageSize);
    try {
      // Stopped by the reader's signal (SIGINT) as its walks of keys are: a status reads the whole file.
      const scan = await scanPages(this.file, trailer.sink, undefined, this.signal);
      const bolt = await boltStatus(this.file, scan, this.signal);
      return { ...bolt, trailer: await trailer.result(scan !== undefined) };
    } finally {
      trailer.close();
    }
  }

  async latestRevision(): Promise<number> {
    const { lastRevision } = await import('./etcd-buckets.js');
    return lastRevision(this.file, this.signal);
  }

  async *liveKeys(opts?: LiveKeysOptions): AsyncIterable<LiveKey> {
    const { liveKeysOf } = await import('./live-keys.js');
    yield* liveKeysOf(this.file, { ...(this.signal && { signal: this.signal }), ...(this.spillArea && { spillArea: this.spillArea }), ...opts });
  }

  async leases(): Promise<LeaseRecord[]> {
    const { leasesOf } = await import('./leases.js');
    return leasesOf(this.file);
  }

  async *entries(bucket: string): AsyncIterable<BucketEntry> {
    const root = await findBucket(this.file, rootBucket(this.file), Buffer.from(bucket));
    if (root !== undefined) yield* bucketEntries(this.file, root);
  }

  async verify(watch?: WalkWatch): Promise<VerifyCheck[]> {
    const { verifySource } = await import('./verify.js');
    // The bytes this walk reads: the source has read the meta pages (and maybe more) before it.
    const before = this.source.bytesRead;
    const stop = watch?.(() => this.source.bytesRead - before);
    try {
      return await verifySource(this.source, this.signal);
    } finally {
      stop?.();
    }
  }

  close(): Promise<void> {
    return this.source.close();
  }
}

/** Opens a snapshot file; throws SnapshotFormatError when no valid meta page fits the file. */
export async function openSnapshot(path: string, opts: OpenSnapshotOptions = {}): Promise<SnapshotReader> {
  const { signal, spillArea, ...cache } = opts;
  const source = await FileSource.open(path, cache);
  try {
    return new FileSnapshotReader(source, new BoltFile(source, await readMeta(source)), signal, spillArea);
  } catch (err) {
    await source.close();
    throw err;
  }
}

/** Status of the snapshot at `path` (opens and closes it). */
export async function snapshotStatus(path: string): Promise<SnapshotStatus> {
  const reader = await openSnapshot(path);
  try {
    return await reader.status();
  } finally {
    await reader.close();
  }
}

/** A full structural check of the snapshot file at `path` (see SnapshotReader.verify); `watch`: see WalkWatch. */
export async function verifyFile(path: string, watch?: WalkWatch, signal?: AbortSignal): Promise<VerifyCheck[]> {
  const verify = await import('./verify.js');
  return verify.verifyFile(path, watch, signal);
}

/** Live keys of `reader` at a revision (default latest): the function form of `reader.liveKeys`. */
export function liveKeys(reader: SnapshotReader, opts?: LiveKeysOptions): AsyncIterable<LiveKey> {
  return reader.liveKeys(opts);
}
