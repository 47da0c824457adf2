import { parseStrategy } from './strategy.js';

/** What a backup's series is decided from: its manifest's fields (only the strategy, today). */
export interface SeriesSource {
  /** The manifest's `strategy`: `snapshot`, `raw`, `render`, `filter:<resources>`. */
  strategy: string;
}

/**
 * The series a backup belongs to: backups that are taken the same way and so replace one another. Retention
 * counts each series on its own (hourly render listings never push daily snapshots out), and `--strategy` narrows
 * `latest` to one. The key is stable across versions (it is shown in `prune --json` and compared with what
 * operators type):
 *
 *   snapshot, raw, render        the strategy
 *   filter:<resources>           the resources sorted and without repeats: `filter:services,deployments` and
 *                                `filter:deployments,services` dump the same keys, so they are one series
 *   anything else                the strategy as stored (a manifest of a newer version: its own series, so
 *                                retention never mixes it with ours)
 *
 * Where later kinds go (not built yet): a checkpoint (one container's state) would add a case keyed per namespace,
 * pod and container, `checkpoint:<namespace>/<pod>/<container>`, so each container keeps its own last N. A delta
 * segment of a continuous backup is not a series member at all: it belongs to its base's chain, is kept exactly as
 * long as its base is and is never counted on its own; that needs a second function (the chain's base id of a
 * manifest) whose members retention decides with their base, not a key here.
 */
export function seriesOf(m: SeriesSource): string {
  const stored = m.strategy.trim();
  let spec: ReturnType<typeof parseStrategy>;
  try {
    spec = parseStrategy(stored);
  } catch {
    return stored;
  }
  if (spec.kind === 'filter') return `filter:${[...new Set(spec.resources)].sort().join(',')}`;
  return spec.kind;
}

/**
 * The series an operator names (`--strategy filter:services,deployments`, the API's `strategy`), as seriesOf keys
 * it. Throws with the reason when the text is no strategy.
 */
export function seriesNamed(text: string): string {
  parseStrategy(text);
  return seriesOf({ strategy: text });
}

/**
 * The id of the backup `m` cannot be read without, when it has one: a delta segment of a continuous backup belongs
 * to its base, and deleting the base (ops/delete.ts, retention) deletes its segments with it, newest first, before
 * the base itself. No kind of backup has one yet.
 */
export function chainBaseOf(_m: SeriesSource): string | undefined {
  return undefined;
}
