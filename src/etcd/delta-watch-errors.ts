import { EtcdError } from '../core/errors.js';

/**
 * etcd no longer holds the history a watch must resume from: it compacted past the revision the recording reached
 * (it was down, or cut off, for longer than etcd keeps history). The chain cannot go on without a gap: take a full
 * backup at once and start a new chain from it.
 */
export class WatchCompactedError extends EtcdError {
  override name = 'WatchCompactedError';
  constructor(
    /** The revision the watch had to resume from. */
    readonly revision: number,
    /** The revision etcd has compacted up to. */
    readonly compactRevision: number,
    where: string,
  ) {
    super(
      `the recording of changes cannot go on from revision ${revision}: etcd at ${where} has compacted its history up to revision ${compactRevision}, ` +
        'so the changes in between are lost to the chain; a full backup must start a new one',
    );
  }
}

/**
 * The etcd behind the endpoints is no longer the one recorded: its revision went back below what the chain already
 * holds, or it answers as another cluster (restored from a backup, or replaced). Changes recorded on would not
 * continue the chain: take a full backup and start a new one.
 */
export class WatchRewoundError extends EtcdError {
  override name = 'WatchRewoundError';
}
