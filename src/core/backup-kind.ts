import { CHECKPOINT_CONTENT_TYPE, DELTA_CONTENT_TYPE, KEY_DUMP_CONTENT_TYPE, RENDER_CONTENT_TYPE, SNAPSHOT_CONTENT_TYPE } from './content-type.js';
import { printable } from './printable.js';

/**
 * What a backup holds, named from its manifest's `contentType` (the values archive/manifest.ts documents:
 * `etcd-snapshot`, `tar` for key dumps, `jsonl` for render listings, `container-checkpoint`, `delta-events` for the
 * segments of a continuous backup). A content type of a newer version is `other`.
 */
export type BackupKind = 'snapshot' | 'key dump' | 'render listing' | 'container checkpoint' | 'delta segment' | 'other';

const KINDS: Record<string, BackupKind> = {
  [SNAPSHOT_CONTENT_TYPE]: 'snapshot',
  [KEY_DUMP_CONTENT_TYPE]: 'key dump',
  [RENDER_CONTENT_TYPE]: 'render listing',
  [CHECKPOINT_CONTENT_TYPE]: 'container checkpoint',
  [DELTA_CONTENT_TYPE]: 'delta segment',
};

/** The kind of a backup with this content type. */
export function kindOf(contentType: string): BackupKind {
  return Object.prototype.hasOwnProperty.call(KINDS, contentType) ? KINDS[contentType]! : 'other';
}

/**
 * A backup as an operator would name it: `snapshot`, `key dump (filter:secrets)`, `render listing`, `container
 * checkpoint (shop/web/app)`.
 */
export function describeBackup(m: { strategy: string; contentType: string; checkpoint?: { namespace: string; pod: string; container: string } | undefined }): string {
  const kind = kindOf(m.contentType);
  if (kind === 'key dump') return `key dump (${m.strategy})`;
  if (kind === 'container checkpoint' && m.checkpoint) return `container checkpoint (${m.checkpoint.namespace}/${m.checkpoint.pod}/${m.checkpoint.container})`;
  if (kind === 'other') return `"${m.strategy}" backup (content type ${m.contentType})`;
  return kind;
}

/**
 * Why backup `m`, of a content type this version does not know (kind `other`), is not read: a newer reshifter wrote
 * it. Each command used to say it its own way ('is a snapshot listing (etcd-snapshot-v2), which cannot be restored',
 * 'is a other, which starts no chain of changes'), none that it is a newer version's, nor what to do.
 */
export function newerKindText(m: { id: string; artifact: string; contentType: string; tool?: { commit?: unknown } }): string {
  // Never by tool.version: package.json's, 0.1.0 in every build so far. The commit, when the writing build knew it.
  const commit = m.tool?.commit;
  const by = typeof commit === 'string' && /^[0-9a-f]{7,40}(-modified)?$/.test(commit) ? ` (commit ${commit})` : '';
  return `backup ${m.id} (${printable(m.artifact)}) holds content type "${printable(m.contentType)}", which this build of reshifter does not know: written by a newer reshifter${by}; read it with a build that knows that content type`;
}
