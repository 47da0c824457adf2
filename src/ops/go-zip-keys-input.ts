import { openCheckedGoZip } from './go-backup-file.js';
import { OperationError } from '../core/errors.js';
import { hasPrefix } from '../snapshot/bytes.js';
import type { LiveKey, LiveKeysOptions } from '../snapshot/index.js';
import type { OpContext } from './context.js';
import type { KeysInput } from './keys-input.js';

/**
 * A backup of the Go Reshifter (`<id>.zip`, a file) read as live keys for the key modes of `inspect` (`--keys`,
 * `--get KEY`, `--render`), after the whole archive is checked: each call reads the zip once more, in its order (Go's
 * folder walk, close to etcd's key order), keeping one value. It holds no revision: asked for one, it says so. Fetched
 * from a store by its id (`asked`): named by its address, and its folder must be that id.
 */
export async function goZipKeysInput(ctx: OpContext, path: string, asked?: { name: string; id: string }): Promise<KeysInput> {
  const { summary, stream } = await openCheckedGoZip(ctx.log, path, asked?.name ?? path, ctx.signal, { command: 'inspect', ...(asked !== undefined && { id: asked.id }) });
  async function* keysUnder(prefixes: Buffer[], rev: number | undefined): AsyncGenerator<LiveKey> {
    if (rev !== undefined && rev !== 0) {
      throw new OperationError(`${asked?.name ?? path} is a backup of the Go Reshifter (${summary.id}): it holds the keys as they were when it was taken, with no revision; --revision reads snapshots`);
    }
    for await (const r of stream.records()) {
      if (prefixes.length > 0 && !prefixes.some((p) => hasPrefix(r.key, p))) continue;
      yield { key: r.key, value: r.value, createRevision: 0, modRevision: 0, version: 0, lease: 0n };
    }
  }
  return {
    reader: {
      liveKeys: (opts: LiveKeysOptions = {}) => keysUnder(opts.prefix === undefined ? [] : [Buffer.from(opts.prefix)], opts.revision),
      liveKeysIn: (ranges, rev) => keysUnder(ranges.some((r) => r.prefix === '/') ? [] : ranges.map((r) => r.start), rev),
    },
    origin: { kind: 'file', path: asked?.name ?? path },
    close: async () => undefined,
  };
}
