import type { BoltFile } from './bolt-file.js';
import { SnapshotFormatError } from './errors.js';
import { compactedRevision, KEY_BUCKET, requireBucket } from './etcd-buckets.js';
import { decodeKeyValue } from './key-value.js';
import { parseRevisionKey } from './revision.js';
import { leafNodes } from './tree-walk.js';
import { failed, ProblemList, type VerifyCheck } from './verify-check.js';

/**
 * Checks etcd's "key" bucket: every key is a revision, every value a mvccpb.KeyValue whose mod_revision is that
 * revision (etcd writes it so), and reports how many revisions and tombstones it holds.
 */
export async function checkKeyBucket(file: BoltFile, signal?: AbortSignal): Promise<VerifyCheck> {
  const name = 'etcd key bucket';
  const problems = new ProblemList();
  let revisions = 0;
  let tombstones = 0;
  let latest = 0;
  try {
    const bucket = await requireBucket(file, KEY_BUCKET);
    for await (const leaf of leafNodes(file, bucket)) {
      signal?.throwIfAborted();
      for (let i = 0; i < leaf.count; i++) {
        const where = `${leaf.where} element ${i}`;
        try {
          if (leaf.isBucket(i)) throw new SnapshotFormatError(`${where}: is a nested bucket`);
          const rev = parseRevisionKey(leaf.key(i), where);
          const kv = decodeKeyValue(leaf.value(i), where);
          if (!rev.tombstone && kv.modRevision !== rev.main) {
            problems.add(`${where}: mod_revision ${kv.modRevision} differs from its revision key ${rev.main}`);
          }
          revisions++;
          if (rev.tombstone) tombstones++;
          latest = rev.main;
        } catch (err) {
          if (!(err instanceof SnapshotFormatError)) throw err;
          problems.add(err.message);
        }
      }
    }
    const compacted = await compactedRevision(file);
    return problems.toCheck(name, `${revisions} revisions (${tombstones} tombstones), latest revision ${latest}, ` +
      `compacted at ${compacted}`);
  } catch (err) {
    if (!(err instanceof SnapshotFormatError)) throw err;
    return failed(name, err.message);
  }
}
