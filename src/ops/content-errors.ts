import { IntegrityError } from '../core/errors.js';

/** What names a stored backup's artifact in a message. */
interface Named {
  id: string;
  artifact: string;
}

/**
 * `err` naming the backup and its artifact when it is a content error of that artifact that names neither: a key
 * dump's or a delta segment's reader checks the stream it is given, and says only which entry of it is wrong
 * ('key dump: reshifter-dump.json is version 2 ...'), which left stats, inspect, diff and restore without a word of
 * which file of the store it was. Any other error is returned as it is.
 */
export function namingBackup(err: unknown, m: Named): unknown {
  if (!(err instanceof IntegrityError) || err.message.includes(m.id)) return err;
  return new IntegrityError(err.check, `backup ${m.id} (${m.artifact}): ${err.message.slice(err.check.length + 2)}`, { cause: err });
}

/** `items` as they are, an error of reading them naming backup `m` (namingBackup). */
export async function* namingBackupOf<T>(items: AsyncIterable<T>, m: Named): AsyncGenerator<T> {
  try {
    for await (const item of items) yield item;
  } catch (err) {
    throw namingBackup(err, m);
  }
}
