/**
 * Storage paths that are not simply the resource's plural, mapped to the resource they hold.
 * Kubernetes: SpecialDefaultResourcePrefixes in kubernetes/pkg/kubeapiserver/default_storage_factory_builder.go.
 * OpenShift 3.x: the storage overrides of origin's master (pkg/cmd/server/origin/rest), some of them several segments.
 */
export const STORAGE_PATH_RESOURCES: ReadonlyMap<string, string> = new Map([
  ['controllers', 'replicationcontrollers'],
  ['services/endpoints', 'endpoints'],
  ['minions', 'nodes'],
  ['services/specs', 'services'],
  ['ingress', 'ingresses'],
  ['podsecuritypolicy', 'podsecuritypolicies'],
  ['authorization/cluster/policies', 'clusterpolicies'],
  ['authorization/cluster/policybindings', 'clusterpolicybindings'],
  ['authorization/local/policies', 'policies'],
  ['authorization/local/policybindings', 'policybindings'],
  ['oauth/accesstokens', 'oauthaccesstokens'],
  ['oauth/authorizetokens', 'oauthauthorizetokens'],
  ['oauth/clients', 'oauthclients'],
  ['oauth/clientauthorizations', 'oauthclientauthorizations'],
  ['useridentities', 'identities'],
  ['registry/sdnnetworks', 'clusternetworks'],
  ['registry/egressnetworkpolicy', 'egressnetworkpolicies'],
  ['registry/sdnsubnets', 'hostsubnets'],
  ['registry/sdnnetnamespaces', 'netnamespaces'],
]);

/** The most segments any storage path above has. */
export const MAX_STORAGE_PATH_SEGMENTS = 3;

/** Keys under a prefix that hold apiserver bookkeeping rather than objects. */
export const NON_OBJECT_RESOURCES: ReadonlySet<string> = new Set(['masterleases', 'ranges']);

/** etcd's own key, outside every prefix: the last compacted revision as decimal text. */
export const COMPACT_REV_KEY = 'compact_rev_key';

/**
 * Resources known to be cluster-scoped (Kubernetes and OpenShift). Advisory only: a key's segment count decides its
 * scope, because custom resources and future built-ins cannot be listed here.
 */
export const CLUSTER_SCOPED_RESOURCES: ReadonlySet<string> = new Set([
  'namespaces',
  'nodes',
  'persistentvolumes',
  'clusterroles',
  'clusterrolebindings',
  'customresourcedefinitions',
  'apiservices',
  'storageclasses',
  'priorityclasses',
  'csidrivers',
  'csinodes',
  'volumeattachments',
  'mutatingwebhookconfigurations',
  'validatingwebhookconfigurations',
  'validatingadmissionpolicies',
  'validatingadmissionpolicybindings',
  'certificatesigningrequests',
  'runtimeclasses',
  'ingressclasses',
  'flowschemas',
  'prioritylevelconfigurations',
  'podsecuritypolicies',
  'componentstatuses',
  'users',
  'groups',
  'identities',
  'oauthclients',
  'oauthaccesstokens',
  'oauthauthorizetokens',
  'oauthclientauthorizations',
  'images',
  'projects',
  'clusterresourcequotas',
  'clusterpolicies',
  'clusterpolicybindings',
  'clusternetworks',
  'hostsubnets',
  'netnamespaces',
  'securitycontextconstraints',
]);

/** True when `resource` (a plural, without group) is known to be cluster-scoped. */
export function isClusterScoped(resource: string): boolean {
  return CLUSTER_SCOPED_RESOURCES.has(resource);
}
