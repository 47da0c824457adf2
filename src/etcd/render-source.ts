import { Readable } from 'node:stream';
import type { Etcd3 } from 'etcd3';
import { renderLine } from '../archive/render-listing.js';
import { RENDER_CONTENT_TYPE } from '../core/content-type.js';
import type { Config } from '../config/types.js';
import type { FilterMatches } from '../core/filter-matches.js';
import { selectsEverything, type KeySelection } from '../core/key-selection.js';
import { auditRow, type AuditRow } from '../kube/audit-row.js';
import { DEFAULT_PREFIXES, parseKey } from '../kube/index.js';
import { layoutPrefixes } from '../kube/resource-label.js';
import type { Logger } from '../log.js';
import { openKeyReader } from './key-reader.js';
import type { BackupSource } from './source.js';
import { whenEnded } from './stream-done.js';
import { seenAndSelected, warnUnmatched } from './unmatched-filters.js';

/**
 * The `render` strategy: an audit listing of every selected key (kind, apiVersion, namespace, name, uid, labels,
 * creation time, value size, encoding) as JSON lines. Each row is also handed to `echo` (the command prints it); a
 * promise it returns (stdout's reader is behind: `backup | less`) is awaited before the next row is read, so that
 * rows wait in etcd and not in this process's memory.
 */
export async function renderSource(
  config: Config,
  etcd: Etcd3,
  log: Logger,
  selection: KeySelection,
  echo?: (row: AuditRow) => Promise<void> | void,
  matches?: FilterMatches,
): Promise<BackupSource> {
  const reader = await openKeyReader(config, etcd, log);
  const layout = layoutPrefixes(reader.prefixes, DEFAULT_PREFIXES);
  const everything = selectsEverything(selection);
  let rows = 0;

  async function* lines(): AsyncGenerator<Buffer> {
    try {
      for await (const page of reader.pages()) {
        let text = '';
        for (const r of page) {
          if (!everything && !seenAndSelected(parseKey(r.key, layout), selection, matches)) continue;
          const row = auditRow(r.key, r.value, layout, r.modRevision);
          const behind = echo?.(row);
          if (behind) await behind;
          text += renderLine(row);
          rows++;
        }
        if (text.length > 0) yield Buffer.from(text);
      }
      // A listing that selected nothing is refused, naming its filters (ops/backup.ts).
      if (rows > 0) warnUnmatched(log, matches?.unmatched() ?? []);
    } finally {
      reader.close();
    }
  }

  const stream = Readable.from(lines(), { objectMode: false, highWaterMark: 1024 * 1024 });
  const ended = whenEnded(stream);
  // A stream destroyed before it was read (an aborted backup) never runs the generator's finally.
  stream.once('close', () => reader.close());
  return {
    contentType: RENDER_CONTENT_TYPE,
    format: 'render.jsonl',
    stream,
    keysSoFar: () => rows,
    async facts() {
      await ended;
      return { etcdVersion: reader.etcdVersion, revision: reader.revision, apiVersion: reader.apiVersion, keys: rows, prefixes: reader.prefixes };
    },
  };
}
