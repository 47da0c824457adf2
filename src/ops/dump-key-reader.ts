import { OperationError } from '../core/errors.js';
import { hasPrefix } from '../snapshot/bytes.js';
import type { LiveKey, LiveKeysOptions } from '../snapshot/index.js';
import { keyDumpKeys } from './backup-keys.js';
import type { KeyDumpBackup } from './open-backup.js';
import type { KeysInput } from './keys-input.js';

/**
 * A key dump read as the live keys of its one revision, for the key modes of `inspect` (`--keys`, `--get KEY`,
 * `--render`): each call reads the dump once more, in its order (etcd's key order for v3), keeping no keys. Asked for
 * another revision, it says which one it holds.
 */
export async function dumpKeysInput(backup: KeyDumpBackup): Promise<KeysInput> {
  const m = backup.manifest;
  const dump = await keyDumpKeys(backup).catch(async (err: unknown) => {
    await backup.close();
    throw err;
  });
  const { revision } = dump.header;
  /** One pass over the dump: the keys under any of `prefixes` (every key when there are none). */
  async function* keysUnder(prefixes: Buffer[], rev: number | undefined): AsyncGenerator<LiveKey> {
    if (rev !== undefined && rev !== 0 && rev !== revision) {
      throw new OperationError(`backup ${m.id} is a key dump: it holds the keys at revision ${revision} only, not at ${rev}; snapshots hold older revisions (with --strategy snapshot, latest is the newest snapshot rather than the newest snapshot or key dump)`);
    }
    for await (const r of dump.records()) {
      if (prefixes.length > 0 && !prefixes.some((p) => hasPrefix(r.key, p))) continue;
      yield { key: r.key, value: r.value, createRevision: r.createRevision, modRevision: r.modRevision, version: r.version, lease: r.lease === undefined ? 0n : BigInt(r.lease) };
    }
  }
  return {
    reader: {
      liveKeys: (opts: LiveKeysOptions = {}) => keysUnder(opts.prefix === undefined ? [] : [Buffer.from(opts.prefix)], opts.revision),
      liveKeysIn: (ranges, rev) => keysUnder(ranges.some((r) => r.prefix === '/') ? [] : ranges.map((r) => r.start), rev),
      latestRevision: () => Promise.resolve(revision),
    },
    origin: { kind: 'backup', id: m.id, strategy: m.strategy, revision },
    close: () => dump.close().finally(() => backup.close()),
  };
}
