import type { Readable } from 'node:stream';
import type { EtcdMember } from '../archive/manifest.js';
import type { ContentType } from '../core/content-type.js';

/** What a strategy learned about etcd while reading it, for the manifest. */
export interface SourceFacts {
  etcdVersion: string;
  revision: number;
  apiVersion: 'v2' | 'v3';
  keys?: number;
  prefixes?: string[];
  /** The cluster's members (etcd/source-members.ts), read once the content is. */
  members?: EtcdMember[];
  /** The id of the cluster it was read from (etcd/source-members.ts), v3 only. */
  clusterId?: string;
}

/**
 * A backup strategy's output: the content as a byte stream, plus facts known once the stream has ended.
 * `facts()` rejects if the stream did not complete.
 */
export interface BackupSource {
  /** What the content is (core/content-type.ts). */
  contentType: ContentType;
  /** File name part for the artifact: `snapshot.db`, `raw.tar`, `render.jsonl`. */
  format: string;
  stream: Readable;
  /** About how many bytes the stream will hold, when the source knows beforehand (for progress). */
  expectedBytes?: number;
  facts(): Promise<SourceFacts>;
  /**
   * sha256 (hex) of the whole content stream, for sources that compute it anyway (the snapshot's trailer check);
   * valid once the stream has ended. Lets a backup stored untransformed skip a second hash of the same bytes.
   */
  contentSha256?(): string;
  /** Keys (a listing's rows) read into the stream so far, for a running job's progress; sources of keys only. */
  keysSoFar?(): number;
  /**
   * Asked when storing the stream failed with `err`: a source whose stream broke mid-way and can be read again from
   * the start elsewhere (the snapshot of another member) returns that new source; otherwise undefined (the backup
   * fails with `err`). Nothing of the broken stream is kept: the store's put of it failed, and left nothing.
   */
  again?(err: unknown): Promise<BackupSource | undefined>;
}
