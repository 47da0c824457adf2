/**
 * Kubernetes' rules for the names a checkpoint target holds: a namespace and a container name are DNS-1123 labels
 * (at most 63 lowercase letters, digits and `-`, starting and ending with a letter or digit); a pod name is a DNS-1123
 * subdomain (at most 253; labels joined by `.`). Names that break them exist in no cluster, so a target or a kubelet
 * reply holding one is wrong, and such a name never reaches a URL, a file name or a manifest.
 */
const LABEL = /^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/;
const SUBDOMAIN = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$/;

export type KubeNameKind = 'namespace' | 'pod' | 'container';

/** `name` quoted for a message, cut to 80 characters (it may come from a hostile reply). */
const shown = (name: string) => JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}...` : name);

/** Why `name` cannot be a `kind` name, or undefined when it can. */
export function kubeNameProblem(kind: KubeNameKind, name: string): string | undefined {
  if (kind === 'pod') {
    if (name.length > 253 || !SUBDOMAIN.test(name)) return `${shown(name)} is not a pod name (lowercase letters, digits, - and ., at most 253)`;
    return undefined;
  }
  if (!LABEL.test(name)) return `${shown(name)} is not a ${kind} name (lowercase letters, digits and -, at most 63)`;
  return undefined;
}
