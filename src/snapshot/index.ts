// Offline reader of etcd snapshot files (bbolt + etcd's backend schema); no etcd process needed.
export { SnapshotFormatError, SnapshotRevisionError } from './errors.js';
export { openSnapshot, snapshotStatus, liveKeys, verifyFile } from './reader.js';
export type { OpenSnapshotOptions, SnapshotReader, SnapshotStatus } from './reader.js';
export type { VerifyCheck } from './verify-check.js';
export type { WalkWatch } from './verify.js';
export type { LiveKey, LiveKeysOptions } from './live-keys.js';
export type { SpillArea } from './key-spill.js';
export type { LeaseRecord } from './leases.js';
export type { BucketEntry } from './cursor.js';
export type { TrailerState } from './trailer.js';
export type { FileSourceOptions } from './file-source.js';
