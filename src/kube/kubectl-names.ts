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

function pairs(plural: string, ...names: string[]): Array<[string, string]> {
  return names.map((n) => [n, plural]);
}

/** The stored plural of a kubectl singular or short name (`cm` -> `configmaps`), or undefined for any other name. */
export function pluralOfKubectlName(name: string): string | undefined {
  return KUBECTL_NAMES.get(name.trim().toLowerCase());
}

/**
 * The first of `names` that is kubectl's singular or short name of a built-in resource, said as the rest of
 * `... was invalid: "<value>" ...`; undefined when there is none.
 */
export function kubectlNameProblem(names: readonly string[]): string | undefined {
  for (const name of names) {
    const plural = pluralOfKubectlName(name);
    if (plural !== undefined) return `has "${name}", kubectl's name for ${plural}: etcd stores a resource under its plural, so "${name}" would select nothing (use "${plural}")`;
  }
  return undefined;
}
