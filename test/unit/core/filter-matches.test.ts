import { describe, expect, it } from 'vitest';
import { FilterMatches, unmatchedNamesText } from '../../../src/core/filter-matches.js';
import { parseKey } from '../../../src/kube/index.js';
import { selectionOf } from '../../helpers/selection.js';

const selection = selectionOf;

describe('filter entries that match no key', () => {
  it('names, per variable, the entries no key matched; a Namespace object matches its own name', () => {
    const m = new FilterMatches(selection({ includeNamespaces: ['team-1', 'tema-2', 'ops'], includeResources: ['secrets', 'widgets.example.com', 'gizmos'], excludeNamespaces: ['kube-sytem'] }));
    for (const key of ['/registry/secrets/team-1/db', '/registry/namespaces/ops', '/registry/example.com/widgets/team-1/w', '/registry/pods/kube-system/x']) m.see(parseKey(Buffer.from(key)));
    expect(m.unmatched()).toEqual([
      { variable: 'RS_INCLUDE_NAMESPACES', names: ['tema-2'] },
      { variable: 'RS_EXCLUDE_NAMESPACES', names: ['kube-sytem'], nearest: { 'kube-sytem': 'kube-system' } },
      { variable: 'RS_INCLUDE_RESOURCES', names: ['gizmos'] },
    ]);
  });

  it('suggests, for an entry that matched nothing, the name met in the keys it is nearest to (found by an operator pass)', () => {
    // filter:rotues or RS_INCLUDE_NAMESPACES=payemnts in an hourly job: the warning named the typo, not what was meant.
    const m = new FilterMatches(selection({ includeNamespaces: ['payemnts', 'zzz'], excludeResources: ['widgtes', 'deploymnets.apps'] }), [{ variable: 'filter:rotues', names: ['rotues'] }]);
    const keys = ['/registry/pods/payments/p', '/kubernetes.io/routes/payments/r', '/registry/example.com/widgets/payments/w', '/registry/deployments/payments/d'];
    for (const key of keys) m.see(parseKey(Buffer.from(key)));
    expect(m.unmatched()).toEqual([
      { variable: 'RS_INCLUDE_NAMESPACES', names: ['payemnts', 'zzz'], nearest: { payemnts: 'payments' } },
      { variable: 'RS_EXCLUDE_RESOURCES', names: ['widgtes', 'deploymnets.apps'], nearest: { widgtes: 'widgets', 'deploymnets.apps': 'deployments.apps' } },
      { variable: 'filter:rotues', names: ['rotues'], nearest: { rotues: 'routes' } },
    ]);
    expect(unmatchedNamesText(m.unmatched()[0]!)).toBe('"payemnts" (did you mean "payments"?), "zzz"');
  });

  it('is empty without filters, and once every entry matched', () => {
    expect(new FilterMatches(selection({})).unmatched()).toEqual([]);
    const m = new FilterMatches(selection({ excludeResources: ['events'] }));
    m.see(parseKey(Buffer.from('/registry/events/default/e1')));
    expect(m.unmatched()).toEqual([]);
  });
});
