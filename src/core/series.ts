import { kubeNameProblem } from '../kube/names.js';
import { parseStrategy } from './strategy.js';

/** What a backup's series is decided from: its manifest's fields. */
export interface SeriesSource {
  /** The manifest's `strategy`: `snapshot`, `raw`, `render`, `filter:<resources>`, `checkpoint`. */
  strategy: string;
  /** A container checkpoint's container (the manifest's `checkpoint`). */
  checkpoint?: { namespace: string; pod: string; container: string } | undefined;
  /** A delta segment's full backup (the manifest's `base`). */
  base?: string | undefined;
  /** The keyspace read (the manifest's `etcd.apiVersion`): a v2 dump is a series of its own. */
  etcd?: { apiVersion?: string | undefined } | undefined;
}

/** What a series of dumps of etcd's v2 keyspace ends with: `raw@v2`, `filter:services@v2`. */
export const V2_SUFFIX = '@v2';

/** The name that stands for every checkpoint series at once (`--strategy checkpoint`). */
export const CHECKPOINT_FAMILY = 'checkpoint';

/**
 * The series a backup belongs to: backups that are taken the same way and so replace one another. Retention
 * counts each series on its own (hourly render listings never push daily snapshots out), and `--strategy` narrows
 * `latest` to one. The key is stable across versions (it is shown in `prune --json` and compared with what
 * operators type):
 *
 *   snapshot, raw, render        the strategy
 *   filter:<resources>           the resources sorted and without repeats: `filter:services,deployments` and
 *                                `filter:deployments,services` dump the same keys, so they are one series
 *   checkpoint                   one series per container, `checkpoint:<namespace>/<pod>/<container>`: each
 *                                container keeps its own last N (a checkpoint of one never replaces another's)
 *   a dump of the v2 keyspace    its series + `@v2` (`raw@v2`): v2 and v3 hold different keys (flannel's
 *                                /coreos.com beside Kubernetes' /registry), so a v2 dump never replaces a v3 one
 *   anything else                the strategy as stored (a manifest of a newer version: its own series, so
 *                                retention never mixes it with ours)
 *
 * A delta segment of a continuous backup (not built yet) is not a series member at all: it belongs to its base's
 * chain, is kept exactly as long as its base is and is never counted on its own; that needs a second function (the
 * chain's base id of a manifest) whose members retention decides with their base, not a key here.
 */
export function seriesOf(m: SeriesSource): string {
  const stored = m.strategy.trim();
  let spec: ReturnType<typeof parseStrategy>;
  try {
    spec = parseStrategy(stored);
  } catch {
    return stored;
  }
  const v2 = m.etcd?.apiVersion === 'v2' ? V2_SUFFIX : '';
  if (spec.kind === 'filter') return `filter:${[...new Set(spec.resources)].sort().join(',')}${v2}`;
  if (spec.kind === 'checkpoint' && m.checkpoint) return `checkpoint:${m.checkpoint.namespace}/${m.checkpoint.pod}/${m.checkpoint.container}`;
  return `${spec.kind}${v2}`;
}

/**
 * The series an operator names (`--strategy filter:services,deployments`, the API's `strategy`), as seriesOf keys
 * it: a strategy, `checkpoint:<namespace>/<pod>/<container>` for one container's checkpoints, or `checkpoint` for
 * all of them (see inSeries). Throws with the reason when the text is no series.
 */
export function seriesNamed(text: string): string {
  const value = text.trim();
  if (value.startsWith('checkpoint:')) {
    const parts = value.slice('checkpoint:'.length).split('/');
    if (parts.length !== 3) throw new Error('names no container: checkpoint:<namespace>/<pod>/<container>, or checkpoint for every container');
    const kinds = ['namespace', 'pod', 'container'] as const;
    const problem = parts.map((p, i) => kubeNameProblem(kinds[i]!, p)).find((p) => p !== undefined);
    if (problem !== undefined) throw new Error(`names no container: ${problem}`);
    return `checkpoint:${parts.join('/')}`;
  }
  if (value.endsWith(V2_SUFFIX)) {
    const strategy = value.slice(0, -V2_SUFFIX.length);
    if (parseStrategy(strategy).kind === 'snapshot') throw new Error('names no series: a snapshot holds the v3 keyspace only (@v2 is for dumps: raw@v2, filter:...@v2)');
    return seriesOf({ strategy, etcd: { apiVersion: 'v2' } });
  }
  parseStrategy(value);
  return seriesOf({ strategy: value });
}

/** True when backup `m` belongs to `series` as seriesNamed gives it: `checkpoint` holds every container's series. */
export function inSeries(m: SeriesSource, series: string): boolean {
  return seriesMatches(seriesOf(m), series);
}

/** True when the series `own` (as seriesOf keys it) is `series` as seriesNamed gives it, or one of its family. */
export function seriesMatches(own: string, series: string): boolean {
  return own === series || (series === CHECKPOINT_FAMILY && own.startsWith(`${CHECKPOINT_FAMILY}:`));
}

/**
 * The id of the backup `m` cannot be read without, when it has one: a delta segment of a continuous backup belongs
 * to its base, and deleting the base (ops/delete.ts, retention) deletes its segments with it, newest first, before
 * the base itself.
 */
export function chainBaseOf(m: SeriesSource): string | undefined {
  return m.strategy === 'delta' ? m.base : undefined;
}
