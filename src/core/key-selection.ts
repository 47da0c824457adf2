import type { SelectionConfig } from '../config/types.js';
import { resourceMatches, type ParsedKey } from '../kube/index.js';

/**
 * Which keys a dump, listing or restore covers, beyond the prefixes. Every non-empty list must agree:
 * `filter:<resources>` and RS_INCLUDE_RESOURCES each keep only their resources, RS_EXCLUDE_RESOURCES drops some,
 * RS_INCLUDE_NAMESPACES keeps only those namespaces' objects (and their Namespace objects), RS_EXCLUDE_NAMESPACES
 * drops them.
 */
export interface KeySelection {
  /** Lists of resource names; a key must match a name of every list. */
  resourceSets: string[][];
  excludeResources: string[];
  includeNamespaces: string[];
  excludeNamespaces: string[];
}

/** The selection of the configuration, narrowed further by the resources of a `filter:` strategy. */
export function buildSelection(cfg: SelectionConfig, strategyResources?: readonly string[]): KeySelection {
  const resourceSets = [strategyResources ?? [], cfg.includeResources].filter((s) => s.length > 0).map((s) => [...s]);
  return {
    resourceSets,
    excludeResources: [...cfg.excludeResources],
    includeNamespaces: [...cfg.includeNamespaces],
    excludeNamespaces: [...cfg.excludeNamespaces],
  };
}

/** True when the selection keeps every key. */
export function selectsEverything(s: KeySelection): boolean {
  return s.resourceSets.length === 0 && s.excludeResources.length === 0 && s.includeNamespaces.length === 0 && s.excludeNamespaces.length === 0;
}

/**
 * The namespace a key belongs to for namespace filters: a namespaced object's namespace, or for a Namespace object
 * its own name (so `RS_INCLUDE_NAMESPACES=team-a` keeps the namespace itself). Undefined for everything else.
 */
export function namespaceOf(key: ParsedKey): string | undefined {
  if (key.type !== 'object') return undefined;
  if (key.namespace !== undefined) return key.namespace;
  return key.resource === 'namespaces' && key.group === undefined ? key.name : undefined;
}

/** True when the selection keeps the key. Resources are matched on the parsed resource, never on the path. */
export function selectKey(key: ParsedKey, s: KeySelection): boolean {
  for (const set of s.resourceSets) if (!set.some((name) => resourceMatches(name, key))) return false;
  if (s.excludeResources.some((name) => resourceMatches(name, key))) return false;
  if (s.includeNamespaces.length > 0 || s.excludeNamespaces.length > 0) {
    const ns = namespaceOf(key);
    if (s.includeNamespaces.length > 0 && (ns === undefined || !s.includeNamespaces.includes(ns))) return false;
    if (ns !== undefined && s.excludeNamespaces.includes(ns)) return false;
  }
  return true;
}
