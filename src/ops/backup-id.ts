import { StoreError, describeError } from '../core/errors.js';
import { nextBackupId } from '../core/naming.js';
import type { Logger } from '../log.js';
import type { BackupRepository } from '../store/backup-repository.js';

/** How long a failing look-up of the newest id is retried: an S3 server's hiccup, not its outage. */
const LOOKUP_RETRY_MS = 5_000;

/**
 * A new backup's id, and `log` with it bound. The id is never earlier than the newest of the cluster's folder
 * (nextBackupId): when this machine's clock is behind it, the new backup still ranks as the newest for `latest` and
 * retention, and a warning names both times; the manifest's createdAt stays this machine's time. One listing of the
 * names after this clock's (newestIdFrom); when it fails, the id is the clock's and the backup goes on (its own writes
 * then say what is wrong with the store). The listing stops on `ctx.signal` (a pod's SIGTERM), and is retried only for
 * LOOKUP_RETRY_MS: an S3 outage must not hold the backup up for a retry window before its own. A bucket that does not
 * exist is returned as `noBucket`, for the backup to fail with before it reads etcd (and not here, where no observer
 * would count the failure): its writes would fail alike, but only after the whole snapshot was streamed.
 */
export async function newBackupIdIn(
  repo: BackupRepository,
  ctx: { log: Logger; signal: AbortSignal },
  bindings: Record<string, unknown> = {},
): Promise<{ id: string; log: Logger; noBucket?: StoreError }> {
  const { log, signal } = ctx;
  const now = new Date();
  let noBucket: StoreError | undefined;
  const newest = await repo.newestIdFrom(now, { signal, retryWindowMs: LOOKUP_RETRY_MS }).catch((err: unknown) => {
    if (err instanceof StoreError && err.kind === 'no-bucket') noBucket = err;
    // Stopped meanwhile: the backup says so next, before it starts.
    else if (!signal.aborted) log.warn({ err: describeError(err) }, 'could not list the backups to order the new id after them; using this clock');
    return undefined;
  });
  const { id, behindMs } = nextBackupId(now, newest);
  const bound = log.child({ backupId: id, ...bindings });
  if (behindMs > 0) {
    bound.warn(
      { clock: now.toISOString(), newestBackup: newest, behindMs },
      "this machine's clock looks behind: the store holds a backup with a later id; the new backup's id is set just after it so that it counts as the newest (its createdAt is this clock's)",
    );
  }
  return { id, log: bound, ...(noBucket && { noBucket }) };
}
