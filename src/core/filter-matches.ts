import type { SelectionConfig } from '../config/types.js';
import { resourceMatches, type ParsedKey } from '../kube/index.js';
import { namespaceOf } from './key-selection.js';

/** Entries of one filter variable that no key matched: `RS_INCLUDE_NAMESPACES` and `["tema-2"]`. */
export interface UnmatchedFilter {
  variable: string;
  names: string[];
}

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
    this.left = this.left.filter((e) => !(e.kind === 'namespace' ? e.name === ns : resourceMatches(e.name, key)));
  }

  /** The entries no key matched, by variable, in the order of the variables. */
  unmatched(): UnmatchedFilter[] {
    const out: UnmatchedFilter[] = [];
    for (const e of this.left) {
      const last = out[out.length - 1];
      if (last?.variable === e.variable) last.names.push(e.name);
      else out.push({ variable: e.variable, names: [e.name] });
    }
    return out;
  }
}
