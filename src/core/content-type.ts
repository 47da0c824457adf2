/**
 * What a backup's artifact holds before compression and encryption: the manifest's `contentType`, one constant per
 * kind. A new kind (a delta segment of continuous backups, say) adds its constant here, a name in backup-kind.ts,
 * its check in archive/verify-artifact.ts and, when it can be read back, a case in ops/open-backup.ts.
 */

/** An etcd snapshot: the bbolt file followed by etcd's sha256 trailer. */
export const SNAPSHOT_CONTENT_TYPE = 'etcd-snapshot';
/** A key dump (`raw`, `filter:`): a tar of the keys (archive/key-dump-format.ts). */
export const KEY_DUMP_CONTENT_TYPE = 'tar';
/** A render listing: JSON lines of audit rows, no values (archive/render-listing.ts). */
export const RENDER_CONTENT_TYPE = 'jsonl';
/** A container checkpoint: CRI-O's checkpoint archive, a tar (archive/checkpoint-archive.ts). */
export const CHECKPOINT_CONTENT_TYPE = 'container-checkpoint';
/** A delta segment of a continuous backup: the changes between two revisions, a tar (archive/delta-segment-format.ts). */
export const DELTA_CONTENT_TYPE = 'delta-events';

/** Every content type this version writes or reads. */
export type ContentType =
  | typeof SNAPSHOT_CONTENT_TYPE
  | typeof KEY_DUMP_CONTENT_TYPE
  | typeof RENDER_CONTENT_TYPE
  | typeof CHECKPOINT_CONTENT_TYPE
  | typeof DELTA_CONTENT_TYPE;

/**
 * A content type this version does not know, written by a newer one: such a backup is listed, downloaded and checked
 * by size and sha256, and its kind is `other`. (`string & {}` keeps the known ones apart for the compiler.)
 */
export type UnknownContentType = string & {};
