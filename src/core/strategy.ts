import { kubectlNameProblem } from '../kube/kubectl-names.js';
import { suggest } from './suggest.js';

/**
 * How a backup is taken. `filter` is a `raw` dump limited to some resources (Reshifter's `filter:a,b`); `checkpoint`
 * reads no etcd at all: it checkpoints running containers through the node's kubelet (RS_CHECKPOINT_TARGETS), one
 * backup per container.
 */
export type StrategySpec =
  | { kind: 'snapshot' }
  | { kind: 'raw' }
  | { kind: 'render' }
  | { kind: 'filter'; resources: string[] }
  | { kind: 'checkpoint' };

export type StrategyName = StrategySpec['kind'];

/** Parses `snapshot`, `raw`, `render`, `filter:deployments,services` or `checkpoint`; throws with the reason on anything else. */
export function parseStrategy(text: string): StrategySpec {
  const value = text.trim();
  if (value === 'snapshot' || value === 'raw' || value === 'render' || value === 'checkpoint') return { kind: value };
  if (value.startsWith('filter:')) {
    const resources = value
      .slice('filter:'.length)
      .split(',')
      .map((r) => r.trim())
      .filter((r) => r.length > 0);
    if (resources.length === 0) throw new Error('names no resource: give at least one, e.g. filter:deployments,services');
    const bad = resources.find((r) => !/^[a-z0-9][a-z0-9.-]*$/.test(r));
    if (bad !== undefined) throw new Error(`has "${bad}", which is not a resource name`);
    return { kind: 'filter', resources };
  }
  // The Go Reshifter's RS_BACKUP_STRATEGY=filter kept the keys whose path holds "deployments"; its env reused here.
  if (value === 'filter') throw new Error('is the Go Reshifter\'s filter, which kept the keys whose path holds "deployments": here a filter names its resources, as filter:deployments (filter:<resource>[,<resource>...])');
  if (value.startsWith('checkpoint:')) throw new Error('is one container\'s series: a checkpoint backup is taken with checkpoint, and RS_CHECKPOINT_TARGETS names the containers');
  const near = suggest(value.replace(/:.*$/, ''), ['snapshot', 'raw', 'render', 'filter', 'checkpoint']);
  const hint = near === undefined ? '' : ` (did you mean ${near === 'filter' ? `filter:${value.replace(/^[^:]*:?/, '') || '<resource>'}` : near}?)`;
  throw new Error(`should be one of snapshot, raw, render, filter:<resource>[,<resource>...], checkpoint${hint}`);
}

/**
 * A strategy to take new backups with: parseStrategy, and a `filter:` never names a resource by kubectl's singular or
 * short name (`configmap`, `cm`), which would leave that resource out of every backup. Stored strategies are read with
 * parseStrategy alone.
 */
export function parseStrategyToTake(text: string): StrategySpec {
  const spec = parseStrategy(text);
  const problem = spec.kind === 'filter' ? kubectlNameProblem(spec.resources) : undefined;
  if (problem !== undefined) throw new Error(problem);
  return spec;
}

/** The text form of a strategy, as written into manifests. */
export function formatStrategy(spec: StrategySpec): string {
  return spec.kind === 'filter' ? `filter:${spec.resources.join(',')}` : spec.kind;
}
