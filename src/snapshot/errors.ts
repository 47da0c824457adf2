/**
 * The snapshot file is not a well-formed bbolt / etcd backend file. The message names what is wrong and where
 * (page id, byte offset), so a user can tell a truncated download from a bit flip.
 */
export class SnapshotFormatError extends Error {
  override readonly name = 'SnapshotFormatError';
}

/** A requested revision cannot be served from this snapshot (compacted away, or newer than the snapshot). */
export class SnapshotRevisionError extends Error {
  override readonly name = 'SnapshotRevisionError';
}
