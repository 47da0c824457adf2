import { DELTA_CONTENT_TYPE, KEY_DUMP_CONTENT_TYPE, RENDER_CONTENT_TYPE, SNAPSHOT_CONTENT_TYPE } from './content-type.js';

/**
 * What a backup holds, named from its manifest's `contentType` (the values archive/manifest.ts documents:
 * `etcd-snapshot`, `tar` for key dumps, `jsonl` for render listings, `delta-events` for the segments of a continuous
 * backup). A content type of a newer version is `other`.
 */
export type BackupKind = 'snapshot' | 'key dump' | 'render listing' | 'delta segment' | 'other';

const KINDS: Record<string, BackupKind> = {
  [SNAPSHOT_CONTENT_TYPE]: 'snapshot',
  [KEY_DUMP_CONTENT_TYPE]: 'key dump',
  [RENDER_CONTENT_TYPE]: 'render listing',
  [DELTA_CONTENT_TYPE]: 'delta segment',
};

/** The kind of a backup with this content type. */
export function kindOf(contentType: string): BackupKind {
  return Object.prototype.hasOwnProperty.call(KINDS, contentType) ? KINDS[contentType]! : 'other';
}

/** A backup as an operator would name it: `snapshot`, `key dump (filter:secrets)`, `render listing`. */
export function describeBackup(m: { strategy: string; contentType: string }): string {
  const kind = kindOf(m.contentType);
  if (kind === 'key dump') return `key dump (${m.strategy})`;
  if (kind === 'other') return `"${m.strategy}" backup (content type ${m.contentType})`;
  return kind;
}
