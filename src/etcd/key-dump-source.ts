import { Readable } from 'node:stream';
import type { Etcd3 } from 'etcd3';
import { DUMP_FORMAT, DUMP_VERSION } from '../archive/key-dump-format.js';
import { KEY_DUMP_CONTENT_TYPE } from '../core/content-type.js';
import { KeyDumpWriter } from '../archive/key-dump-writer.js';
import type { Config } from '../config/types.js';
import type { FilterMatches } from '../core/filter-matches.js';
import { selectsEverything, type KeySelection } from '../core/key-selection.js';
import { DEFAULT_PREFIXES, parseKey } from '../kube/index.js';
import { layoutPrefixes } from '../kube/resource-label.js';
import type { Logger } from '../log.js';
import { openKeyReader } from './key-reader.js';
import { keysOutsideText, type KeysOutside } from './kube-prefixes.js';
import type { BackupSource } from './source.js';
import { whenEnded } from './stream-done.js';
import { seenAndSelected, warnUnmatched } from './unmatched-filters.js';

/**
 * The `raw` and `filter:` strategies: every selected key under the Kubernetes prefixes, byte for byte with its
 * revisions and lease TTL, as a key dump tar (see archive/key-dump-format.ts). One consistent read at one revision
 * (v3), streamed a page at a time.
 */
export async function keyDumpSource(config: Config, etcd: Etcd3, log: Logger, selection: KeySelection, matches?: FilterMatches): Promise<BackupSource> {
  const everything = selectsEverything(selection);
  const reader = await openKeyReader(config, etcd, log, { lookOutside: everything });
  if (reader.outside) warnOfKeysOutside(reader.outside, reader.prefixes, reader.apiVersion, log);
  const layout = layoutPrefixes(reader.prefixes, DEFAULT_PREFIXES);
  const writer = new KeyDumpWriter(new Date());
  log.info({ apiVersion: reader.apiVersion, revision: reader.revision, prefixes: reader.prefixes }, 'dumping keys');

  async function* bytes(): AsyncGenerator<Buffer> {
    try {
      yield writer.header({
        format: DUMP_FORMAT,
        version: DUMP_VERSION,
        apiVersion: reader.apiVersion,
        etcdVersion: reader.etcdVersion,
        revision: reader.revision,
        prefixes: reader.prefixes,
        createdAt: new Date().toISOString(),
        ...(!everything && { selection }),
      });
      for await (const page of reader.pages()) {
        const kept = everything ? page : page.filter((r) => seenAndSelected(parseKey(r.key, layout), selection, matches));
        if (kept.length > 0) yield* writer.keysOf(kept);
      }
      yield writer.end();
      // A dump that selected nothing is refused, naming its filters (ops/backup.ts).
      if (writer.keys > 0) warnUnmatched(log, matches?.unmatched() ?? []);
    } finally {
      reader.close();
    }
  }

  const stream = Readable.from(bytes(), { objectMode: false, highWaterMark: 1024 * 1024 });
  const ended = whenEnded(stream);
  // A stream destroyed before it was read (an aborted backup) never runs the generator's finally.
  stream.once('close', () => reader.close());
  return {
    contentType: KEY_DUMP_CONTENT_TYPE,
    format: 'raw.tar',
    stream,
    keysSoFar: () => writer.keys,
    async facts() {
      await ended;
      return { etcdVersion: reader.etcdVersion, revision: reader.revision, apiVersion: reader.apiVersion, keys: writer.keys, prefixes: reader.prefixes };
    },
  };
}

/**
 * A raw dump of k3s would not hold its /bootstrap data: said, with the ways to hold it. A snapshot is one on v3 only:
 * it holds the v3 keyspace, never v2 keys (flannel's /coreos.com).
 */
function warnOfKeysOutside(outside: KeysOutside, prefixes: readonly string[], apiVersion: 'v2' | 'v3', log: Logger): void {
  const ways =
    apiVersion === 'v3'
      ? 'take a snapshot to hold everything, or set RS_KUBE_PREFIXES (/ dumps every key; prefixes named there end this warning)'
      : 'set RS_KUBE_PREFIXES to hold them (/ dumps every key; prefixes named there end this warning): a snapshot holds only the v3 keyspace, not these v2 keys';
  log.warn(
    { outside: outside.count, under: outside.under, prefixes },
    `etcd holds ${keysOutsideText(outside)} outside the Kubernetes prefixes (${prefixes.join(', ')}), under ${outside.under.join(', ')}, ` +
      `which this dump leaves out: ${ways}`,
  );
}
