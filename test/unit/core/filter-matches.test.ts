import { describe, expect, it } from 'vitest';
import { FilterMatches } from '../../../src/core/filter-matches.js';
import { parseKey } from '../../../src/kube/index.js';
import { selectionOf } from '../../helpers/selection.js';

const selection = selectionOf;

describe('filter entries that match no key', () => {
  it('names, per variable, the entries no key matched; a Namespace object matches its own name', () => {
    const m = new FilterMatches(selection({ includeNamespaces: ['team-1', 'tema-2', 'ops'], includeResources: ['secrets', 'widgets.example.com', 'gizmos'], excludeNamespaces: ['kube-sytem'] }));
    for (const key of ['/registry/secrets/team-1/db', '/registry/namespaces/ops', '/registry/example.com/widgets/team-1/w', '/registry/pods/kube-system/x']) m.see(parseKey(Buffer.from(key)));
    expect(m.unmatched()).toEqual([
      { variable: 'RS_INCLUDE_NAMESPACES', names: ['tema-2'] },
      { variable: 'RS_EXCLUDE_NAMESPACES', names: ['kube-sytem'] },
      { variable: 'RS_INCLUDE_RESOURCES', names: ['gizmos'] },
    ]);
  });

  it('is empty without filters, and once every entry matched', () => {
    expect(new FilterMatches(selection({})).unmatched()).toEqual([]);
    const m = new FilterMatches(selection({ excludeResources: ['events'] }));
    m.see(parseKey(Buffer.from('/registry/events/default/e1')));
    expect(m.unmatched()).toEqual([]);
  });
});
