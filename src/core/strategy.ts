/** How a backup reads etcd. `filter` is a `raw` dump limited to some resources (Reshifter's `filter:a,b`). */
export type StrategySpec =
  | { kind: 'snapshot' }
  | { kind: 'raw' }
  | { kind: 'render' }
  | { kind: 'filter'; resources: string[] };

export type StrategyName = StrategySpec['kind'];

/** Parses `snapshot`, `raw`, `render` or `filter:deployments,services`; throws with the reason on anything else. */
export function parseStrategy(text: string): StrategySpec {
  const value = text.trim();
  if (value === 'snapshot' || value === 'raw' || value === 'render') return { kind: value };
  if (value.startsWith('filter:')) {
    const resources = value
      .slice('filter:'.length)
      .split(',')
      .map((r) => r.trim())
      .filter((r) => r.length > 0);
    if (resources.length === 0) throw new Error('filter: needs at least one resource, e.g. filter:deployments,services');
    const bad = resources.find((r) => !/^[a-z0-9][a-z0-9.-]*$/.test(r));
    if (bad !== undefined) throw new Error(`has "${bad}", which is not a resource name`);
    return { kind: 'filter', resources };
  }
  throw new Error('should be one of snapshot, raw, render, filter:<resource>[,<resource>...]');
}

/** The text form of a strategy, as written into manifests. */
export function formatStrategy(spec: StrategySpec): string {
  return spec.kind === 'filter' ? `filter:${spec.resources.join(',')}` : spec.kind;
}
