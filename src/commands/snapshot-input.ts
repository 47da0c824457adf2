import { stat } from 'node:fs/promises';
import { snapshotError } from '../archive/snapshot-error.js';
import type { KeyRange } from '../etcd/key-ranges.js';
import { openSnapshot, type LiveKey, type SnapshotReader } from '../snapshot/index.js';
import type { CommandContext } from './context.js';

/** Where an opened snapshot came from. */
export type SnapshotOrigin = { kind: 'file'; path: string } | { kind: 'backup'; id: string; strategy: string; revision: number };

/** A snapshot open for offline reading; `close` also deletes a decoded temporary copy. */
export interface SnapshotInput {
  reader: SnapshotReader;
  origin: SnapshotOrigin;
  close(): Promise<void>;
}

async function isFile(path: string): Promise<boolean> {
  return stat(path).then((s) => s.isFile(), () => false);
}

/**
 * Opens `target`: a path that exists as a file is read in place (a snapshot with or without etcd's trailer, or a
 * raw member/snap/db); anything else is a backup id in the configured store, or `latest`: the newest snapshot
 * backup (of the `--strategy` series).
 */
export async function openSnapshotInput(ctx: CommandContext, target: string): Promise<SnapshotInput> {
  if (await isFile(target)) {
    try {
      const reader = await openSnapshot(target);
      return { reader, origin: { kind: 'file', path: target }, close: () => reader.close() };
    } catch (err) {
      throw snapshotError(err, target);
    }
  }
  // Loaded only for a backup: the store, its SDKs and the codecs cost more to load than a status of a file takes.
  const [{ openRepository }, { openSnapshotBackup }, { USES }, { seriesFlag }] = await Promise.all([
    import('./shared.js'),
    import('./snapshot-backup.js'),
    import('../core/latest.js'),
    import('./series-flag.js'),
  ]);
  const repo = openRepository(ctx.config, ctx.log);
  try {
    return await openSnapshotBackup(ctx, repo, await repo.get(target, USES.inspect, seriesFlag(ctx)));
  } finally {
    await repo.store.close();
  }
}

/**
 * The live keys of a snapshot in `ranges` (see prefixRanges: the range `/` is every key), range by range, so in key
 * order; at `revision`, by default the latest.
 */
export async function* liveKeysIn(reader: SnapshotReader, ranges: ReadonlyArray<Pick<KeyRange, 'prefix' | 'start'>>, revision?: number): AsyncGenerator<LiveKey> {
  for (const range of ranges) {
    yield* reader.liveKeys({ ...(range.prefix !== '/' && { prefix: range.start }), ...(revision !== undefined && { revision }) });
  }
}
