import type { Readable } from 'node:stream';
import { OperationError } from '../core/errors.js';
import { openSnapshot } from '../snapshot/index.js';
import type { CodecKeys } from './codec.js';
import { KEY_DUMP_CONTENT_TYPE } from './key-dump-format.js';
import { readKeyDump } from './key-dump-reader.js';
import { copyVerified } from './local-copy.js';
import type { Manifest } from './manifest.js';
import { decodeSnapshotCopy } from './snapshot-file.js';
import { snapshotError } from './snapshot-error.js';

/** One key of a backup. */
export interface BackupKey {
  key: Buffer;
  value: Buffer;
  modRevision?: number;
}

/** The keys of a backup in etcd's key order (byte order); `close` removes the temporary copy. */
export interface BackupKeys {
  keys: AsyncIterable<BackupKey>;
  /** The key prefixes the backup covered, when it says (key dumps). */
  prefixes?: string[];
  close(): Promise<void>;
}

/**
 * Opens a backup's keys, whatever its kind: a snapshot is decoded into a private temporary file and read with the
 * offline snapshot reader (no etcd needed); a key dump is read as a stream from its verified local copy. The stored
 * bytes are checked against the manifest first. A `render` listing holds no values and cannot be read this way.
 */
export async function openBackupKeys(stored: Readable, m: Manifest, codecKeys: CodecKeys, signal?: AbortSignal): Promise<BackupKeys> {
  if (m.contentType !== 'etcd-snapshot' && m.contentType !== KEY_DUMP_CONTENT_TYPE) {
    stored.destroy();
    throw new OperationError(`backup ${m.id} (${m.strategy}) is a listing without values: only snapshots and key dumps can be read key by key`);
  }
  const copy = await copyVerified(stored, m, signal);
  try {
    if (m.contentType === 'etcd-snapshot') {
      // The reader finds a damaged page only when the walk reaches it: errors from opening and from walking name the backup.
      const what = `backup ${m.id}`;
      const db = await decodeSnapshotCopy(copy, codecKeys, signal ? { signal } : {});
      const reader = await openSnapshot(db).catch((err: unknown) => {
        throw snapshotError(err, what);
      });
      return {
        keys: (async function* () {
          try {
            for await (const k of reader.liveKeys()) yield { key: k.key, value: k.value, modRevision: k.modRevision };
          } catch (err) {
            throw snapshotError(err, what);
          }
        })(),
        async close() {
          await reader.close().catch(() => undefined);
          await copy.remove();
        },
      };
    }
    const items = readKeyDump(copy.open(codecKeys))[Symbol.asyncIterator]();
    const first = await items.next();
    if (first.done || first.value.type !== 'header') throw new OperationError(`backup ${m.id}: the key dump has no header`);
    const header = first.value.header;
    const dumpKeys = async function* (): AsyncGenerator<BackupKey> {
      for (let r = await items.next(); !r.done; r = await items.next()) {
        if (r.value.type === 'key') yield { key: r.value.record.key, value: r.value.record.value, modRevision: r.value.record.modRevision };
      }
    };
    return {
      // v3 dumps are paged ranges, in key order already; a v2 walk goes directory by directory, which is not byte
      // order, so its (small, v2-era) keys are sorted in memory.
      keys: header.apiVersion === 'v3' ? dumpKeys() : sortedInMemory(dumpKeys()),
      prefixes: header.prefixes,
      async close() {
        await items.return?.(undefined);
        await copy.remove();
      },
    };
  } catch (err) {
    await copy.remove();
    throw err;
  }
}

async function* sortedInMemory(keys: AsyncIterable<BackupKey>): AsyncGenerator<BackupKey> {
  const all: BackupKey[] = [];
  for await (const k of keys) all.push(k);
  all.sort((a, b) => Buffer.compare(a.key, b.key));
  yield* all;
}
