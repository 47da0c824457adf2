import type { LiveKey, SnapshotReader } from '../snapshot/index.js';

/** Where an opened snapshot (or key dump, for the key modes of `inspect`) came from. */
export type SnapshotOrigin = { kind: 'file'; path: string } | { kind: 'backup'; id: string; strategy: string; revision: number };

/**
 * What the key modes of `inspect` read: live keys in key order, under a prefix, at a revision; `liveKeysIn`, when a
 * reader has it, reads the keys under any of several prefixes in one pass (a key dump, which cannot seek).
 * `latestRevision` is the revision its keys are read at by default (a snapshot's own, a key dump's one); a reader
 * of keys that carry no revision (a backup of the Go Reshifter) has none.
 */
export type KeyReader = Pick<SnapshotReader, 'liveKeys'> & Partial<Pick<SnapshotReader, 'latestRevision'>> & {
  liveKeysIn?(ranges: ReadonlyArray<{ prefix: string; start: Buffer }>, revision?: number): AsyncIterable<LiveKey>;
};

/** The keys of a snapshot (a file or a backup) or of a key dump backup, open for `inspect --keys / --get / --render`. */
export interface KeysInput {
  reader: KeyReader;
  origin: SnapshotOrigin;
  close(): Promise<void>;
}

/** A snapshot open for offline reading; `close` also deletes a decoded temporary copy. */
export interface SnapshotInput {
  reader: SnapshotReader;
  origin: SnapshotOrigin;
  close(): Promise<void>;
}
