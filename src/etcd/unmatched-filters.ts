import { unmatchedNamesText, type FilterMatches, type UnmatchedFilter } from '../core/filter-matches.js';
import { selectKey, type KeySelection } from '../core/key-selection.js';
import type { ParsedKey } from '../kube/index.js';
import type { Logger } from '../log.js';

/**
 * A filter entry that matched no key etcd holds, while the others did (a key dump or render listing that selects
 * nothing is refused): the backup is stored without it, and said, since it is nearly always a typo
 * (`filter:secrets,confgmaps` in an hourly job would leave the configmaps out of every backup).
 */
export function warnUnmatched(log: Logger, unmatched: readonly UnmatchedFilter[]): void {
  if (unmatched.length === 0) return;
  const notes = unmatched.map((u) => {
    const { variable, names } = u;
    const one = names.length === 1;
    const effect = variable.startsWith('RS_EXCLUDE_') ? 'it leaves nothing out of this backup' : `this backup holds nothing of ${one ? 'it' : 'them'}`;
    return `${variable} names ${unmatchedNamesText(u)}, which match${one ? 'es' : ''} no key etcd holds: ${effect} (named as etcd stores them; "reshifter stats" lists them)`;
  });
  log.warn({ notes }, 'filter entries matched no key etcd holds');
}

/** Whether `selection` keeps `key`, every key read marked in `matches` first (selected or not), for warnUnmatched. */
export function seenAndSelected(key: ParsedKey, selection: KeySelection, matches: FilterMatches | undefined): boolean {
  matches?.see(key);
  return selectKey(key, selection);
}
