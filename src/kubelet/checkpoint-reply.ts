import type { CheckpointReply } from './types.js';

/** The kubelet's time stamp in the file name: Go's time.RFC3339 (`2024-02-29T18:28:17Z`, or with an offset). */
const RFC3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2}))$/;

/**
 * Reads the kubelet's answer to a checkpoint, `{"items":["/var/lib/kubelet/checkpoints/checkpoint-<pod>_<ns>-<container>-<time>.tar"]}`,
 * and keeps only the archive's file name, after checking that it is the name the kubelet gives this container's
 * checkpoints (`checkpoint-<pod>_<namespace>-<container>-<RFC 3339 time>.tar`, see Kubelet.CheckpointContainer). The
 * path itself is never followed: the file is read from RS_CHECKPOINT_DIR under that name, so a reply naming `../`, an
 * absolute path elsewhere, or another container's archive cannot make us read or delete anything else.
 */
export function parseCheckpointReply(body: Buffer, want: { namespace: string; pod: string; container: string }): CheckpointReply {
  let data: unknown;
  try {
    data = JSON.parse(body.toString('utf8'));
  } catch {
    throw new Error('the answer is not JSON');
  }
  const items = typeof data === 'object' && data !== null ? (data as { items?: unknown }).items : undefined;
  if (!Array.isArray(items) || items.length !== 1 || typeof items[0] !== 'string') throw new Error('the answer is not {"items":["<archive path>"]}');
  const path = items[0] as string;
  if (path.length === 0 || path.length > 4096 || /[\u0000-\u001f\u007f\\]/.test(path)) throw new Error('the archive path in the answer is malformed');
  const fileName = path.slice(path.lastIndexOf('/') + 1);
  const prefix = `checkpoint-${want.pod}_${want.namespace}-${want.container}-`;
  const time = fileName.startsWith(prefix) && fileName.endsWith('.tar') ? fileName.slice(prefix.length, -'.tar'.length) : '';
  if (!RFC3339.test(time)) {
    throw new Error(`the archive ${JSON.stringify(fileName.slice(0, 120))} is not named like a checkpoint of ${want.namespace}/${want.pod}/${want.container} (${prefix}<time>.tar)`);
  }
  const at = new Date(time);
  return { fileName, kubeletPath: path, ...(!Number.isNaN(at.getTime()) && { checkpointedAt: at }) };
}
