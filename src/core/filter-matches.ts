import type { SelectionConfig } from '../config/types.js';
import { resourceMatches, type ParsedKey } from '../kube/index.js';
import { namespaceOf } from './key-selection.js';
import { suggest } from './suggest.js';

/**
 * Entries of one filter variable that no key matched: `RS_INCLUDE_NAMESPACES` and `["tema-2"]`; `nearest`, for those
 * that some name met in the keys is near, that name (`{"tema-2": "team-2"}`).
 */
export interface UnmatchedFilter {
  variable: string;
  names: string[];
  nearest?: Record<string, string>;
}

/** `"tema-2" (did you mean "team-2"?), "gizmos"`: an unmatched filter's names as its messages give them. */
export function unmatchedNamesText(u: UnmatchedFilter): string {
  return u.names.map((n) => (u.nearest?.[n] === undefined ? `"${n}"` : `"${n}" (did you mean "${u.nearest[n]}"?)`)).join(', ');
}

/** At most this many namespaces and resources are kept for suggestions (a cluster of many thousand namespaces). */
const KEPT_NAMES = 10_000;

const FILTERS = [
  ['RS_INCLUDE_NAMESPACES', 'includeNamespaces', 'namespace'],
  ['RS_EXCLUDE_NAMESPACES', 'excludeNamespaces', 'namespace'],
  ['RS_INCLUDE_RESOURCES', 'includeResources', 'resource'],
  ['RS_EXCLUDE_RESOURCES', 'excludeResources', 'resource'],
] as const;

/** The name of a namespace or resource filter, as whoever gave it knows it: its variable, or an API request's field. */
export function filterNames(selection: SelectionConfig): Array<{ field: (typeof FILTERS)[number][1]; name: string }> {
  return FILTERS.map(([variable, field]) => ({ field, name: selection.named?.[field] ?? variable }));
}

/**
 * Which entries of the namespace and resource filters matched some key of a backup (or of etcd, for a dump). A restore
 * with `RS_INCLUDE_NAMESPACES=team-1,tema-2` writes team-1 and nothing of the misspelt one: said, not silent. Fed
 * every key the restore or dump reads, selected or not; each entry is tested only until it first matches.
 */
export class FilterMatches {
  private left: Array<{ variable: string; name: string; kind: 'namespace' | 'resource' }>;
  /** Names met in the keys while some entry is left, to suggest the one meant (`filter:rotues`: `routes`). */
  private readonly met = { namespace: new Set<string>(), resource: new Set<string>(), groups: new Map<string, string>() };

  /** `resources`: more lists of resource names, each under its own name (a dump's `filter:secrets,configmaps`). */
  constructor(selection: SelectionConfig, resources: readonly UnmatchedFilter[] = []) {
    this.left = [
      ...FILTERS.flatMap(([variable, field, kind]) => selection[field].map((name) => ({ variable: selection.named?.[field] ?? variable, name, kind }))),
      ...resources.flatMap(({ variable, names }) => names.map((name) => ({ variable, name, kind: 'resource' as const }))),
    ];
  }

  /** Marks the entries `key` matches. */
  see(key: ParsedKey): void {
    if (this.left.length === 0) return;
    const ns = namespaceOf(key);
    this.meet(ns, key);
    this.left = this.left.filter((e) => !(e.kind === 'namespace' ? e.name === ns : resourceMatches(e.name, key)));
  }

  /** The entries no key matched, by variable, in the order of the variables, with the names they are near. */
  unmatched(): UnmatchedFilter[] {
    const out: UnmatchedFilter[] = [];
    const known = { namespace: [...this.met.namespace], resource: [...this.met.resource, ...[...this.met.groups].map(([r, g]) => `${r}.${g}`)] };
    for (const e of this.left) {
      const last = out[out.length - 1];
      const u = last?.variable === e.variable ? last : { variable: e.variable, names: [] };
      if (u !== last) out.push(u);
      u.names.push(e.name);
      const near = nearest(e.name, e.kind, known[e.kind]);
      if (near !== undefined) u.nearest = { ...u.nearest, [e.name]: near };
    }
    return out;
  }

  private meet(ns: string | undefined, key: ParsedKey): void {
    const { namespace, resource, groups } = this.met;
    if (ns !== undefined && namespace.size < KEPT_NAMES) namespace.add(ns);
    if (key.resource === undefined || resource.size >= KEPT_NAMES) return;
    resource.add(key.resource);
    if (key.group !== undefined && !groups.has(key.resource)) groups.set(key.resource, key.group);
  }
}

/**
 * The name met that `name` was likely meant as: near in spelling, with the same digits (`tema-2` is not `team-1`);
 * a resource's group is kept (`deploymnets.apps`: `deployments.apps`).
 */
function nearest(name: string, kind: 'namespace' | 'resource', known: readonly string[]): string | undefined {
  const dot = kind === 'resource' ? name.indexOf('.') : -1;
  const [word, group] = dot < 0 ? [name, ''] : [name.slice(0, dot), name.slice(dot)];
  const digits = (s: string): string => s.replace(/\D/g, '');
  const near = suggest(word, known.filter((k) => digits(k) === digits(word)));
  return near === undefined ? undefined : `${near}${group}`;
}
