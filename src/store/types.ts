import type { Readable } from 'node:stream';

export interface ObjectInfo {
  /** Key relative to the store's root, `/`-separated: `<cluster>/<file>`. */
  key: string;
  size: number;
  lastModified: Date;
}

export interface ListOptions {
  pending?: boolean;
  startAfter?: string;
  signal?: AbortSignal;
  retryWindowMs?: number;
}

export interface GetOptions {
  signal?: AbortSignal;
  /** Bytes `start` to `end` (both inclusive, `end` < the object's size) rather than the whole object. */
  range?: { start: number; end: number };
}

/**
 * Where backups live. Keys are `/`-separated and relative to the store's root (a directory, or a bucket + prefix).
 * `put` is atomic: an object is visible to `list` and `get` only once it is complete, and a failed or aborted put
 * leaves nothing behind that `list` shows.
 */
export interface Store {
  /** Where the store is, for messages: `/abs/dir` or `s3://bucket/prefix`. */
  readonly location: string;
  /** The folder inside the bucket (`RS_S3_PREFIX`, `''` for the top), for S3 stores. */
  readonly s3Prefix?: string;
  put(key: string, body: Readable, opts?: { signal?: AbortSignal; size?: number }): Promise<void>;
  /** The object's bytes; with `range`, only bytes `start` to `end` (inclusive, within the object) of it. */
  get(key: string, opts?: GetOptions): Promise<Readable>;
  /**
   * The objects directly in folder `prefix` (ending in `/`; not those of its subfolders), in-progress uploads included when `pending`;
   * with `startAfter` (a key), only those whose key sorts after it (S3's start-after: the listing costs one request
   * however many keys sort before it). `signal` stops it; `retryWindowMs` shortens how long a failing S3 listing is
   * retried (RS_S3_RETRY_WINDOW otherwise), for a listing that is worth less than the time.
   */
  list(prefix: string, opts?: ListOptions): Promise<ObjectInfo[]>;
  /**
   * The object `key` (its size), or undefined when the store does not hold it: a HEAD on S3, which needs only the
   * s3:GetObject permission (a listing needs s3:ListBucket, which a restore-only credential may not have).
   */
  stat(key: string, opts?: { signal?: AbortSignal }): Promise<ObjectInfo | undefined>;
  /** The names of the folders directly under `prefix` (`''`: the root; else a folder ending in `/`), sorted. */
  folders(prefix: string): Promise<string[]>;
  /**
   * The file that holds `key` on this machine, when the store is a local folder (readers then read it in place
   * rather than copy it); undefined for remote stores.
   */
  localPath?(key: string): string | undefined;
  /**
   * localPath, for a file read in place with nothing to check it against first: its real path, refused when it is no
   * regular file or leads outside the store.
   */
  checkedLocalPath?(key: string): Promise<string>;
  /**
   * Removes `key`: true when it removed it, false when there was nothing to remove (another process removed it first),
   * undefined when the store cannot tell (S3 answers a delete of a missing key as it answers any other).
   */
  delete(key: string): Promise<boolean | undefined>;
  close(): Promise<void>;
}
