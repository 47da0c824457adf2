import { describe, it, expect } from 'vitest';
import {
  DEFAULT_PREFIXES,
  detectDistribution,
  isClusterScoped,
  parseKey,
  resourceMatches,
  type ParsedKey,
} from '../../../src/kube/index.js';
import { bytes } from './fixtures.js';

const object = (prefix: string, resource: string, name: string, namespace?: string, group?: string): ParsedKey => ({
  type: 'object',
  object: true,
  prefix,
  resource,
  name,
  ...(namespace !== undefined && { namespace }),
  ...(group !== undefined && { group }),
});

const cases: [string, ParsedKey][] = [
  // Plain resources, namespaced and cluster-scoped.
  ['/registry/pods/default/pi-dqtsw', object('/registry', 'pods', 'pi-dqtsw', 'default')],
  ['/registry/namespaces/default', object('/registry', 'namespaces', 'default')],
  ['/registry/jobs/default/pi', object('/registry', 'jobs', 'pi', 'default')],
  ['/registry/leases/kube-node-lease/node-1', object('/registry', 'leases', 'node-1', 'kube-node-lease')],
  ['/registry/clusterroles/system:admin', object('/registry', 'clusterroles', 'system:admin')],
  // Storage paths that are not the resource name.
  ['/registry/services/specs/default/kubernetes', object('/registry', 'services', 'kubernetes', 'default')],
  ['/registry/services/endpoints/default/kubernetes', object('/registry', 'endpoints', 'kubernetes', 'default')],
  ['/registry/controllers/default/web', object('/registry', 'replicationcontrollers', 'web', 'default')],
  ['/registry/minions/node-1', object('/registry', 'nodes', 'node-1')],
  ['/registry/ingress/shop/web', object('/registry', 'ingresses', 'web', 'shop')],
  ['/registry/podsecuritypolicy/restricted', object('/registry', 'podsecuritypolicies', 'restricted')],
  // Group-qualified resources and custom resources (a dotted first segment is a group).
  [
    '/registry/apiextensions.k8s.io/customresourcedefinitions/widgets.example.com',
    object('/registry', 'customresourcedefinitions', 'widgets.example.com', undefined, 'apiextensions.k8s.io'),
  ],
  ['/registry/apiregistration.k8s.io/apiservices/v1.apps', object('/registry', 'apiservices', 'v1.apps', undefined, 'apiregistration.k8s.io')],
  ['/registry/example.com/widgets/shop/w1', object('/registry', 'widgets', 'w1', 'shop', 'example.com')],
  ['/registry/example.com/clusterwidgets/w1', object('/registry', 'clusterwidgets', 'w1', undefined, 'example.com')],
  // The segment count decides scope, even against the known list.
  ['/registry/pods/lonely', object('/registry', 'pods', 'lonely')],
  ['/registry/namespaces/odd/one', object('/registry', 'namespaces', 'one', 'odd')],
  // Non-object keys.
  ['compact_rev_key', { type: 'non-object', object: false, resource: 'compact_rev_key' }],
  ['/registry/masterleases/10.0.0.1', { type: 'non-object', object: false, prefix: '/registry', resource: 'masterleases' }],
  ['/registry/ranges/serviceips', { type: 'non-object', object: false, prefix: '/registry', resource: 'ranges' }],
  ['/registry/ranges/servicenodeports', { type: 'non-object', object: false, prefix: '/registry', resource: 'ranges' }],
  ['/openshift.io/ranges/uids', { type: 'non-object', object: false, prefix: '/openshift.io', resource: 'ranges' }],
  // OpenShift 3.x: Kubernetes objects under /kubernetes.io, OpenShift's under /openshift.io.
  ['/kubernetes.io/pods/ns/name', object('/kubernetes.io', 'pods', 'name', 'ns')],
  ['/kubernetes.io/minions/node-1', object('/kubernetes.io', 'nodes', 'node-1')],
  ['/openshift.io/routes/ns/name', object('/openshift.io', 'routes', 'name', 'ns')],
  ['/openshift.io/users/alice', object('/openshift.io', 'users', 'alice')],
  ['/openshift.io/useridentities/github:alice', object('/openshift.io', 'identities', 'github:alice')],
  ['/openshift.io/images/sha256:abc', object('/openshift.io', 'images', 'sha256:abc')],
  ['/openshift.io/oauth/accesstokens/tok', object('/openshift.io', 'oauthaccesstokens', 'tok')],
  ['/openshift.io/oauth/clients/console', object('/openshift.io', 'oauthclients', 'console')],
  ['/openshift.io/authorization/local/policies/ns/default', object('/openshift.io', 'policies', 'default', 'ns')],
  ['/openshift.io/authorization/cluster/policybindings/:default', object('/openshift.io', 'clusterpolicybindings', ':default')],
  ['/openshift.io/registry/sdnsubnets/node-1', object('/openshift.io', 'hostsubnets', 'node-1')],
  ['/openshift.io/registry/egressnetworkpolicy/ns/default', object('/openshift.io', 'egressnetworkpolicies', 'default', 'ns')],
  [
    '/openshift.io/quota.openshift.io/clusterresourcequotas/q',
    object('/openshift.io', 'clusterresourcequotas', 'q', undefined, 'quota.openshift.io'),
  ],
  // Names are returned exactly as stored: unicode, colons, percent signs, spaces.
  ['/registry/configmaps/ns/名前-ünïcødé', object('/registry', 'configmaps', '名前-ünïcødé', 'ns')],
  ['/registry/secrets/ns/a:b%20c d', object('/registry', 'secrets', 'a:b%20c d', 'ns')],
  ['/registry/pods/ns/ 🙂 ', object('/registry', 'pods', ' 🙂 ', 'ns')],
  // Under a prefix but not an object key.
  ['/registry/pods', { type: 'unrecognised', object: false, prefix: '/registry', resource: 'pods' }],
  ['/registry/pods/', { type: 'unrecognised', object: false, prefix: '/registry', resource: 'pods' }],
  ['/registry/pods/a/b/c', { type: 'unrecognised', object: false, prefix: '/registry', resource: 'pods' }],
  ['/registry/pods//b', { type: 'unrecognised', object: false, prefix: '/registry', resource: 'pods' }],
  ['/registry//x', { type: 'unrecognised', object: false, prefix: '/registry' }],
  ['/registry/', { type: 'unrecognised', object: false, prefix: '/registry' }],
  ['/registry/services/specs', { type: 'unrecognised', object: false, prefix: '/registry', resource: 'services' }],
  ['/registry/example.com', { type: 'unrecognised', object: false, prefix: '/registry', group: 'example.com' }],
  ['/registry/example.com/widgets', { type: 'unrecognised', object: false, prefix: '/registry', resource: 'widgets', group: 'example.com' }],
  // `.` and `..` name nothing (the apiserver refuses them as names); a dotted head with an empty label is no group.
  ['/registry/../../x', { type: 'unrecognised', object: false, prefix: '/registry' }],
  ['/registry/..', { type: 'unrecognised', object: false, prefix: '/registry' }],
  ['/registry/./pods/x', { type: 'unrecognised', object: false, prefix: '/registry' }],
  ['/registry/.hidden/widgets/x', { type: 'unrecognised', object: false, prefix: '/registry' }],
  ['/registry/example..com/widgets/x', { type: 'unrecognised', object: false, prefix: '/registry' }],
  ['/registry/example.com/../x', { type: 'unrecognised', object: false, prefix: '/registry', group: 'example.com' }],
  ['/registry/secrets/default/..', { type: 'unrecognised', object: false, prefix: '/registry', resource: 'secrets' }],
  ['/registry/secrets/../x', { type: 'unrecognised', object: false, prefix: '/registry', resource: 'secrets' }],
  ['/registry/secrets/../../../../tmp/x', { type: 'unrecognised', object: false, prefix: '/registry', resource: 'secrets' }],
  ['/registry/namespaces/.', { type: 'unrecognised', object: false, prefix: '/registry', resource: 'namespaces' }],
  // Outside every prefix.
  ['/registryfoo/pods/a/b', { type: 'plain', object: false }],
  ['/registry', { type: 'plain', object: false }],
  ['health', { type: 'plain', object: false }],
  ['registry/pods/a/b', { type: 'plain', object: false }],
  ['', { type: 'plain', object: false }],
];

describe('parseKey', () => {
  it.each(cases)('%s', (key, expected) => {
    expect(parseKey(key, DEFAULT_PREFIXES)).toEqual(expected);
  });

  it('parses keys given as bytes, including non-ASCII ones', () => {
    expect(parseKey(bytes('/registry/configmaps/ns/名前'), DEFAULT_PREFIXES)).toEqual(object('/registry', 'configmaps', '名前', 'ns'));
  });

  it('reads no name, namespace or resource from bytes that are not UTF-8 (their text would be U+FFFD, not the key)', () => {
    const bad = (head: string, tail: number[]) => Buffer.concat([Buffer.from(head), Buffer.from(tail)]);
    expect(parseKey(bad('/registry/secrets/default/bad-', [0xc3, 0x28]), DEFAULT_PREFIXES)).toEqual({ type: 'unrecognised', object: false, prefix: '/registry', resource: 'secrets' });
    expect(parseKey(bad('/registry/pods/', [0xff, 0x2f, 0x61]), DEFAULT_PREFIXES)).toEqual({ type: 'unrecognised', object: false, prefix: '/registry', resource: 'pods' });
    expect(parseKey(bad('/registry/', [0xff, 0x2f, 0x61]), DEFAULT_PREFIXES)).toEqual({ type: 'unrecognised', object: false, prefix: '/registry' });
    expect(parseKey(bad('/registry/a.', [0xfe, 0x2f, 0x77, 0x2f, 0x61]), DEFAULT_PREFIXES)).toEqual({ type: 'unrecognised', object: false, prefix: '/registry' });
    // U+FFFD itself is UTF-8: a name may hold it.
    expect(parseKey(bytes('/registry/configmaps/ns/a\ufffd'), DEFAULT_PREFIXES)).toEqual(object('/registry', 'configmaps', 'a\ufffd', 'ns'));
  });

  it('uses DEFAULT_PREFIXES when none are given', () => {
    expect(parseKey('/openshift.io/users/alice')).toEqual(object('/openshift.io', 'users', 'alice'));
  });

  it('honours custom prefixes, with or without a trailing slash', () => {
    expect(parseKey('/custom/pods/a/b', ['/custom/'])).toEqual(object('/custom', 'pods', 'b', 'a'));
    expect(parseKey('/registry/pods/a/b', ['/custom'])).toEqual({ type: 'plain', object: false });
  });

  it('prefers the longest matching prefix', () => {
    expect(parseKey('/registry/tenant1/pods/a/b', ['/registry', '/registry/tenant1'])).toEqual(
      object('/registry/tenant1', 'pods', 'b', 'a'),
    );
  });

  it('reads every key under the root prefix', () => {
    expect(parseKey('/pods/a/b', ['/'])).toEqual(object('', 'pods', 'b', 'a'));
    expect(parseKey('compact_rev_key', ['/'])).toEqual({ type: 'non-object', object: false, resource: 'compact_rev_key' });
  });
});

describe('resourceMatches', () => {
  const key = (k: string) => parseKey(k, DEFAULT_PREFIXES);

  it('matches the exact plural only, never a substring of the path', () => {
    expect(resourceMatches('pods', key('/registry/pods/ns/a'))).toBe(true);
    expect(resourceMatches('pods', key('/kubernetes.io/pods/ns/a'))).toBe(true);
    expect(resourceMatches('pod', key('/registry/pods/ns/a'))).toBe(false);
    expect(resourceMatches('pods', key('/registry/podtemplates/ns/a'))).toBe(false);
    expect(resourceMatches('pods', key('/registry/configmaps/pods/a'))).toBe(false);
    expect(resourceMatches('pods', key('/registry/secrets/ns/pods'))).toBe(false);
    expect(resourceMatches('pods', key('/registry/example.com/pods-backup/ns/a'))).toBe(false);
    expect(resourceMatches('ods', key('/registry/pods/ns/a'))).toBe(false);
  });

  it('matches on the resource or its whole storage path (as etcdctl shows the key), never on a path\'s head', () => {
    expect(resourceMatches('services', key('/registry/services/specs/ns/a'))).toBe(true);
    expect(resourceMatches('services', key('/registry/services/endpoints/ns/a'))).toBe(false);
    expect(resourceMatches('endpoints', key('/registry/services/endpoints/ns/a'))).toBe(true);
    expect(resourceMatches('nodes', key('/registry/minions/n'))).toBe(true);
    expect(resourceMatches('minions', key('/registry/minions/n'))).toBe(true);
    expect(resourceMatches('useridentities', key('/openshift.io/useridentities/htpasswd:a'))).toBe(true);
    expect(resourceMatches('useridentities.user.openshift.io', key('/openshift.io/useridentities/htpasswd:a'))).toBe(true);
    expect(resourceMatches('minions', key('/registry/nodes/n'))).toBe(true);
    expect(resourceMatches('controllers', key('/registry/example.com/controllers/ns/a'))).toBe(true);
    expect(resourceMatches('controllers.apps', key('/registry/example.com/controllers/ns/a'))).toBe(false);
  });

  it('accepts a group-qualified name and checks the group', () => {
    const crd = key('/registry/apiextensions.k8s.io/customresourcedefinitions/widgets.example.com');
    expect(resourceMatches('customresourcedefinitions.apiextensions.k8s.io', crd)).toBe(true);
    expect(resourceMatches('customresourcedefinitions', crd)).toBe(true);
    expect(resourceMatches('customresourcedefinitions.example.com', crd)).toBe(false);

    const builtin = key('/registry/deployments/ns/web');
    const custom = key('/registry/example.com/deployments/ns/web');
    expect(resourceMatches('deployments', builtin)).toBe(true);
    expect(resourceMatches('deployments', custom)).toBe(true);
    expect(resourceMatches('deployments.apps', builtin)).toBe(true);
    expect(resourceMatches('deployments.apps', custom)).toBe(false);
    expect(resourceMatches('deployments.example.com', builtin)).toBe(false);
    expect(resourceMatches('deployments.example.com', custom)).toBe(true);
    expect(resourceMatches('ingresses.networking.k8s.io', key('/registry/ingress/ns/a'))).toBe(true);
    expect(resourceMatches('ingress', key('/registry/ingress/ns/a'))).toBe(true);
    expect(resourceMatches('routes.route.openshift.io', key('/openshift.io/routes/ns/a'))).toBe(true);
    // The two aggregation groups always carry their group in the key.
    expect(resourceMatches('apiservices.apiregistration.k8s.io', key('/registry/apiservices/v1.apps'))).toBe(false);
  });

  it('ignores case and surrounding spaces in the filter', () => {
    expect(resourceMatches(' Pods ', key('/registry/pods/ns/a'))).toBe(true);
  });

  it('matches non-object resources by name and never plain keys', () => {
    expect(resourceMatches('ranges', key('/registry/ranges/serviceips'))).toBe(true);
    expect(resourceMatches('compact_rev_key', key('compact_rev_key'))).toBe(true);
    expect(resourceMatches('health', key('health'))).toBe(false);
    expect(resourceMatches('', key('/registry/pods/ns/a'))).toBe(false);
  });
});

describe('detectDistribution', () => {
  it.each([
    [['/registry'], 'vanilla'],
    [['/kubernetes.io'], 'vanilla'],
    [['/kubernetes.io', '/openshift.io'], 'openshift'],
    [['/openshift.io/'], 'openshift'],
    [[], 'none'],
  ] as const)('%j -> %s', (found, expected) => {
    expect(detectDistribution(found)).toBe(expected);
  });
});

describe('isClusterScoped', () => {
  it('knows common cluster-scoped resources and nothing namespaced', () => {
    for (const r of ['namespaces', 'nodes', 'customresourcedefinitions', 'clusterroles', 'users', 'images']) expect(isClusterScoped(r)).toBe(true);
    for (const r of ['pods', 'secrets', 'routes', 'deployments']) expect(isClusterScoped(r)).toBe(false);
  });
});

describe('utf8 (the text of key bytes)', () => {
  it('decodes as TextDecoder does, ASCII, multi-byte and invalid bytes alike, at any offset', async () => {
    const { utf8 } = await import('../../../src/kube/text.js');
    const td = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
    const samples = ['', '/registry/pods/a/b', 'x'.repeat(48), 'y'.repeat(49), '/registry/ü/€', '\ufeffbom'].map((s) => Buffer.from(s));
    samples.push(Buffer.from([0x2f, 0xff, 0x61]), Buffer.from([0x61, 0x80]), Buffer.from([0xc3]));
    for (let i = 0; i < 200; i++) samples.push(Buffer.from(Array.from({ length: i % 60 }, (_, j) => ((i * 31 + j * 17) % 7 === 0 ? 0x80 + j : 0x20 + ((i + j) % 90)))));
    for (const s of samples) {
      const padded = Buffer.concat([Buffer.from('ab'), s, Buffer.from('cd')]);
      expect(utf8(s)).toBe(td.decode(s));
      expect(utf8(padded, 2, 2 + s.length)).toBe(td.decode(s));
      expect(utf8(new Uint8Array(s))).toBe(td.decode(s));
    }
  });
});
