import { STORAGE_PATH_RESOURCES } from './resource-prefixes.js';

/**
 * kubectl's singular and short names of built-in resources (`kubectl api-resources`), by the plural the apiserver
 * stores them under in etcd. A filter matches the stored plural only, so `configmap` or `cm` would select nothing.
 */
const KUBECTL_NAMES: ReadonlyMap<string, string> = new Map([
  ...pairs('configmaps', 'configmap', 'cm'),
  ...pairs('secrets', 'secret'),
  ...pairs('pods', 'pod', 'po'),
  ...pairs('services', 'service', 'svc'),
  ...pairs('deployments', 'deployment', 'deploy'),
  ...pairs('replicasets', 'replicaset', 'rs'),
  ...pairs('statefulsets', 'statefulset', 'sts'),
  ...pairs('daemonsets', 'daemonset', 'ds'),
  ...pairs('jobs', 'job'),
  ...pairs('cronjobs', 'cronjob', 'cj'),
  ...pairs('namespaces', 'namespace', 'ns'),
  ...pairs('nodes', 'node', 'no'),
  ...pairs('events', 'event', 'ev'),
  ...pairs('endpoints', 'endpoint', 'ep'),
  ...pairs('endpointslices', 'endpointslice'),
  ...pairs('ingresses', 'ingress', 'ing'),
  ...pairs('ingressclasses', 'ingressclass'),
  ...pairs('networkpolicies', 'networkpolicy', 'netpol'),
  ...pairs('persistentvolumeclaims', 'persistentvolumeclaim', 'pvc'),
  ...pairs('persistentvolumes', 'persistentvolume', 'pv'),
  ...pairs('storageclasses', 'storageclass', 'sc'),
  ...pairs('serviceaccounts', 'serviceaccount', 'sa'),
  ...pairs('roles', 'role'),
  ...pairs('rolebindings', 'rolebinding'),
  ...pairs('clusterroles', 'clusterrole'),
  ...pairs('clusterrolebindings', 'clusterrolebinding'),
  ...pairs('customresourcedefinitions', 'customresourcedefinition', 'crd', 'crds'),
  ...pairs('leases', 'lease'),
  ...pairs('horizontalpodautoscalers', 'horizontalpodautoscaler', 'hpa'),
  ...pairs('poddisruptionbudgets', 'poddisruptionbudget', 'pdb'),
  ...pairs('limitranges', 'limitrange', 'limits'),
  ...pairs('resourcequotas', 'resourcequota', 'quota'),
  ...pairs('priorityclasses', 'priorityclass', 'pc'),
  ...pairs('replicationcontrollers', 'replicationcontroller', 'rc'),
]);

/** The same of OpenShift's stored resources, as `oc api-resources` names them. */
const OC_NAMES: ReadonlyMap<string, string> = new Map([
  ...pairs('routes', 'route'),
  ...pairs('deploymentconfigs', 'deploymentconfig', 'dc'),
  ...pairs('buildconfigs', 'buildconfig', 'bc'),
  ...pairs('builds', 'build'),
  ...pairs('imagestreams', 'imagestream', 'is'),
  ...pairs('images', 'image'),
  ...pairs('templates', 'template'),
  ...pairs('templateinstances', 'templateinstance'),
  ...pairs('brokertemplateinstances', 'brokertemplateinstance'),
  ...pairs('users', 'user'),
  ...pairs('groups', 'group'),
  ...pairs('identities', 'identity'),
  ...pairs('oauthaccesstokens', 'oauthaccesstoken'),
  ...pairs('oauthauthorizetokens', 'oauthauthorizetoken'),
  ...pairs('oauthclients', 'oauthclient'),
  ...pairs('oauthclientauthorizations', 'oauthclientauthorization'),
  ...pairs('securitycontextconstraints', 'securitycontextconstraint', 'scc'),
  ...pairs('clusterresourcequotas', 'clusterresourcequota', 'clusterquota'),
  ...pairs('egressnetworkpolicies', 'egressnetworkpolicy'),
  ...pairs('hostsubnets', 'hostsubnet'),
  ...pairs('netnamespaces', 'netnamespace'),
  ...pairs('clusternetworks', 'clusternetwork'),
]);

function pairs(plural: string, ...names: string[]): Array<[string, string]> {
  return names.map((n) => [n, plural]);
}

/** The stored plural of a kubectl (or oc) singular or short name (`cm` -> `configmaps`), or undefined for any other name. */
export function pluralOfKubectlName(name: string): string | undefined {
  const key = name.trim().toLowerCase();
  return KUBECTL_NAMES.get(key) ?? OC_NAMES.get(key);
}

/**
 * The first of `names` that is kubectl's (or OpenShift's oc's) singular or short name of a built-in resource, said
 * as the rest of `... was invalid: "<value>" ...`; undefined when there is none.
 */
export function kubectlNameProblem(names: readonly string[]): string | undefined {
  for (const name of names) {
    const plural = pluralOfKubectlName(name);
    // `ingress` is also where etcd stores ingresses (/registry/ingress/): as such it selects them.
    if (plural !== undefined && STORAGE_PATH_RESOURCES.get(name.trim().toLowerCase()) === plural) continue;
    const tool = KUBECTL_NAMES.has(name.trim().toLowerCase()) ? 'kubectl' : 'oc';
    if (plural !== undefined) return `has "${name}", ${tool}'s name for ${plural}: etcd stores a resource under its plural, so "${name}" would select nothing (use "${plural}")`;
  }
  return undefined;
}
