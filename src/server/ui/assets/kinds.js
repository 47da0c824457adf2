// What a backup holds, from its manifest's contentType (never from its strategy's name: kinds added later, such as
// checkpoints, bring their own content types). The one place the page decides what it can compare or restore.

/** Content types whose backups hold keys with their values: snapshots and key dumps (raw, filter:). */
const HOLDS_VALUES = new Set(['etcd-snapshot', 'tar']);

/** True when a backup holds values: it can be compared with another (diff) and restored into etcd. */
export function holdsValues(m) {
  return HOLDS_VALUES.has(m.contentType);
}

/**
 * The series a backup belongs to, as the server keys it: the strategy, with a filter's resources sorted; a container
 * checkpoint's is its container's.
 */
export function seriesOf(m) {
  const s = m.strategy.trim();
  if (s === 'checkpoint' && m.checkpoint) return `checkpoint:${m.checkpoint.namespace}/${m.checkpoint.pod}/${m.checkpoint.container}`;
  if (!s.startsWith('filter:')) return s;
  return `filter:${[...new Set(s.slice('filter:'.length).split(',').map((r) => r.trim()))].sort().join(',')}`;
}
