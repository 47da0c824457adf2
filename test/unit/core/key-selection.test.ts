import { describe, expect, it } from 'vitest';
import { buildSelection, namespaceOf, selectKey, selectsEverything } from '../../../src/core/key-selection.js';
import { parseKey } from '../../../src/kube/index.js';
import { selectionOf } from '../../helpers/selection.js';

const cfg = selectionOf;
const keep = (key: string, sel: ReturnType<typeof buildSelection>) => selectKey(parseKey(key), sel);

describe('key selection', () => {
  it('keeps everything without filters', () => {
    const sel = buildSelection(cfg());
    expect(selectsEverything(sel)).toBe(true);
    expect(keep('/registry/pods/default/a', sel)).toBe(true);
    expect(keep('compact_rev_key', sel)).toBe(true);
  });

  it('filter:<resources> matches the resource part of the key, never a substring of the path', () => {
    const sel = buildSelection(cfg(), ['deployments', 'services', 'namespaces']);
    expect(keep('/registry/deployments/default/web', sel)).toBe(true);
    expect(keep('/registry/services/specs/default/web', sel)).toBe(true);
    expect(keep('/registry/namespaces/default', sel)).toBe(true);
    // "services" in a name, "deployments" as a namespace: not the resource.
    expect(keep('/registry/pods/default/services', sel)).toBe(false);
    expect(keep('/registry/configmaps/deployments/x', sel)).toBe(false);
    expect(keep('/registry/services/endpoints/default/web', sel)).toBe(false);
    expect(keep('compact_rev_key', sel)).toBe(false);
  });

  it('group-qualified names select custom resources and CRDs', () => {
    const sel = buildSelection(cfg({ includeResources: ['widgets.example.com', 'customresourcedefinitions.apiextensions.k8s.io'] }));
    expect(keep('/registry/example.com/widgets/default/gadget', sel)).toBe(true);
    expect(keep('/registry/apiextensions.k8s.io/customresourcedefinitions/widgets.example.com', sel)).toBe(true);
    expect(keep('/registry/other.io/widgets/default/gadget', sel)).toBe(false);
  });

  it('strategy resources and RS_INCLUDE_RESOURCES must both agree; RS_EXCLUDE_RESOURCES drops', () => {
    const sel = buildSelection(cfg({ includeResources: ['pods', 'secrets'], excludeResources: ['secrets'] }), ['pods', 'secrets', 'configmaps']);
    expect(keep('/registry/pods/a/b', sel)).toBe(true);
    expect(keep('/registry/secrets/a/b', sel)).toBe(false);
    expect(keep('/registry/configmaps/a/b', sel)).toBe(false);
  });

  it('namespace filters keep or drop a namespace with its Namespace object; include leaves cluster-scoped keys out', () => {
    const inc = buildSelection(cfg({ includeNamespaces: ['team-1'] }));
    expect(keep('/registry/pods/team-1/a', inc)).toBe(true);
    expect(keep('/registry/namespaces/team-1', inc)).toBe(true);
    expect(keep('/registry/pods/team-2/a', inc)).toBe(false);
    expect(keep('/registry/minions/node-1', inc)).toBe(false);
    const exc = buildSelection(cfg({ excludeNamespaces: ['kube-system'] }));
    expect(keep('/registry/pods/kube-system/a', exc)).toBe(false);
    expect(keep('/registry/namespaces/kube-system', exc)).toBe(false);
    expect(keep('/registry/pods/default/a', exc)).toBe(true);
    expect(keep('/registry/minions/node-1', exc)).toBe(true);
    expect(keep('compact_rev_key', exc)).toBe(true);
  });

  it('namespaceOf knows namespaced objects and Namespace objects only', () => {
    expect(namespaceOf(parseKey('/registry/pods/ns/a'))).toBe('ns');
    expect(namespaceOf(parseKey('/registry/namespaces/ns'))).toBe('ns');
    expect(namespaceOf(parseKey('/registry/clusterroles/admin'))).toBeUndefined();
    expect(namespaceOf(parseKey('/elsewhere/x'))).toBeUndefined();
  });
});
