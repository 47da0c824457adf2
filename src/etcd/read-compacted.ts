import type { Etcd3, IWatchResponse } from 'etcd3';
import { formatDuration } from '../core/duration.js';
import { EtcdError, describeError } from '../core/errors.js';
import { poolOf, type GrpcDuplex } from './etcd3-pool.js';

/**
 * etcd compacted its history past the revision a paged read is pinned at, while the read went on (its
 * --auto-compaction-*, kube-apiserver's periodic compaction, an `etcdctl compact`): the rest of the keys at that
 * revision cannot be read any more. A dump is one point in time, so it cannot go on at another revision either.
 */
export class ReadCompactedError extends EtcdError {
  override name = 'ReadCompactedError';
  constructor(
    /** The revision the read was pinned at. */
    readonly revision: number,
    /** The revision etcd has compacted up to, when etcd said. */
    readonly compactRevision: number | undefined,
    /** How long the read had run. */
    readonly elapsedMs: number,
    options?: { cause?: unknown },
  ) {
    const upTo = compactRevision === undefined ? 'past it' : `up to revision ${compactRevision}`;
    super(
      `reading etcd at revision ${revision} failed after ${formatDuration(elapsedMs)}: etcd compacted its history ${upTo} meanwhile ` +
        `(its auto-compaction, or an etcdctl compact), so the rest of the keys at revision ${revision} can no longer be read; run it again. ` +
        "If it recurs, the read takes longer than etcd keeps history: keep more (etcd's --auto-compaction-retention; kube-apiserver's " +
        '--etcd-compaction-interval), or back up with RS_BACKUP_STRATEGY=snapshot, which reads no history',
      options,
    );
  }
}

/**
 * Whether etcd has compacted its history past `revision` (a watch from it would be refused): the revision it
 * compacted up to, or `revision` itself when etcd does not say. Undefined when it has not, or etcd could not tell (a
 * member down): the caller goes on as it would have. One read of a single key at that revision.
 */
export async function compactedPast(client: Etcd3, revision: number): Promise<number | undefined> {
  try {
    await client.kv.range({ key: Buffer.from([0]), revision: String(revision) });
    return undefined;
  } catch (err) {
    if (!/required revision has been compacted/i.test(describeError(err))) return undefined;
    return (await compactedRevision(client, revision)) ?? revision;
  }
}

/**
 * The revision etcd has compacted up to, which a range refused for compaction does not say: a watch from `revision`
 * is cancelled at once with it. Undefined when etcd does not answer so within `timeoutMs`, or fails: it only adds to
 * a message, never worth failing over.
 */
export async function compactedRevision(client: Etcd3, revision: number, timeoutMs = 2_000): Promise<number | undefined> {
  const pool = poolOf(client);
  let stream: GrpcDuplex | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    stream = await pool.withConnection('Watch', ({ client: c, metadata }) => c.watch(metadata, {}));
    const opened = stream;
    const answer = new Promise<IWatchResponse | undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), timeoutMs);
      // etcd confirms the watch first, then cancels it naming the compacted revision.
      opened.on('data', (res: IWatchResponse) => (res.canceled ? resolve(res) : undefined));
      opened.once('error', () => resolve(undefined));
      opened.once('end', () => resolve(undefined));
    });
    opened.write({ create_request: { key: Buffer.from([0]), range_end: Buffer.from([0]), start_revision: String(revision) } });
    const compacted = Number((await answer)?.compact_revision ?? 0);
    return compacted > 0 ? compacted : undefined;
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
    // Cancelling ends the call with a CANCELLED error: nobody waits for it.
    stream?.on('error', () => undefined);
    stream?.cancel();
  }
}
