import { kubeNameProblem } from '../kube/names.js';

/**
 * Which containers a checkpoint backup takes: `RS_CHECKPOINT_TARGETS`, a comma list of `namespace/pod/container`.
 * `*` stands for every pod or every container (a whole name, not part of one): `shop/*` is every container of every
 * pod in shop (`shop/*` and `shop/*\/*` are the same), `default/web/*` (or `default/web`) every container of pod web,
 * `shop/*\/app` the container app of every pod in shop. The namespace is never `*`: a checkpoint dumps every page of
 * a container's memory to disk, and every namespace would take in kube-system, the CNI and this agent itself; each
 * namespace is named on purpose.
 */
export interface CheckpointTarget {
  namespace: string;
  /** A pod name, or `*`. */
  pod: string;
  /** A container name, or `*`. */
  container: string;
  /** The entry as written, for messages. */
  text: string;
}

/** A pod as the kubelet lists it (`KubeletPod` has this shape). */
export interface TargetPod {
  namespace: string;
  name: string;
  uid: string;
  containers: ReadonlyArray<{ name: string; state: string }>;
}

/** One container to checkpoint. */
export interface SelectedContainer {
  namespace: string;
  pod: string;
  container: string;
  podUid: string;
}

export interface CheckpointSelection {
  /** Running containers matched by some target: sorted, each once. */
  containers: SelectedContainer[];
  /** Targets that selected nothing, and why (a failure the operator should hear of). */
  unmatched: Array<{ target: CheckpointTarget; why: string }>;
  /** Containers a wildcard matched but that are not running (skipped; worth a log line). */
  skipped: Array<{ namespace: string; pod: string; container: string; state: string }>;
}

/** `ns/pod/container` of a selected container, the key of its backup series. */
export const containerKey = (c: { namespace: string; pod: string; container: string }) => `${c.namespace}/${c.pod}/${c.container}`;

function parseOne(text: string): CheckpointTarget | string {
  const parts = text.split('/');
  if (parts.length === 1) return `has "${text}", which names no pod: write ${text}/* for every pod of the namespace`;
  if (parts.length > 3) return `has "${text}", which is not namespace/pod/container`;
  const [namespace, pod, container = '*'] = parts as [string, string, string?];
  if (namespace === '*') {
    return `has "${text}": the namespace cannot be * (a checkpoint dumps a container's whole memory; name each namespace to take, e.g. shop/*)`;
  }
  for (const [kind, name] of [['pod', pod], ['container', container]] as const) {
    if (name !== '*' && name.includes('*')) return `has "${text}": * stands for a whole ${kind} name, not part of one`;
  }
  for (const [kind, name] of [['namespace', namespace], ['pod', pod], ['container', container]] as const) {
    if (name === '*') continue;
    const problem = kubeNameProblem(kind, name);
    if (problem !== undefined) return `has "${text}": ${problem}`;
  }
  return { namespace, pod, container, text };
}

/**
 * Parses RS_CHECKPOINT_TARGETS. Throws an Error whose message names every bad entry and why (the config loader
 * prefixes the variable and its value), or when the list names no target.
 */
export function parseCheckpointTargets(value: string): CheckpointTarget[] {
  const entries = value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (entries.length === 0) throw new Error('names no container (namespace/pod/container, * for every pod or container: shop/*, default/web/*)');
  const targets: CheckpointTarget[] = [];
  const problems: string[] = [];
  for (const entry of entries) {
    const t = parseOne(entry);
    if (typeof t === 'string') problems.push(t);
    else targets.push(t);
  }
  if (problems.length > 0) throw new Error(problems.join('; '));
  return targets;
}

/**
 * The running containers `targets` select among the node's pods. A target that names one container exactly and finds
 * it not running is unmatched (the operator asked for it); wildcards pass over containers that are not running.
 */
export function selectCheckpointContainers(targets: readonly CheckpointTarget[], pods: readonly TargetPod[]): CheckpointSelection {
  const chosen = new Map<string, SelectedContainer>();
  const skipped = new Map<string, CheckpointSelection['skipped'][number]>();
  const unmatched: CheckpointSelection['unmatched'] = [];
  for (const target of targets) {
    const exact = target.pod !== '*' && target.container !== '*';
    const podsHere = pods.filter((p) => p.namespace === target.namespace && (target.pod === '*' || p.name === target.pod));
    let found = 0;
    let notRunning: string | undefined;
    for (const pod of podsHere) {
      for (const c of pod.containers) {
        if (target.container !== '*' && c.name !== target.container) continue;
        const key = containerKey({ namespace: pod.namespace, pod: pod.name, container: c.name });
        if (c.state !== 'running') {
          notRunning = c.state;
          if (!exact) skipped.set(key, { namespace: pod.namespace, pod: pod.name, container: c.name, state: c.state });
          continue;
        }
        found++;
        chosen.set(key, { namespace: pod.namespace, pod: pod.name, container: c.name, podUid: pod.uid });
      }
    }
    if (found > 0) continue;
    let why: string;
    if (podsHere.length === 0) why = target.pod === '*' ? `no pod of namespace ${target.namespace} runs on this node` : `no pod ${target.namespace}/${target.pod} on this node`;
    else if (notRunning !== undefined) why = exact ? `container ${target.text} is not running (${notRunning})` : `no container of ${target.text} is running`;
    else why = `no container ${target.container} in ${target.pod === '*' ? `any pod of ${target.namespace}` : `pod ${target.namespace}/${target.pod}`}`;
    unmatched.push({ target, why });
  }
  const byKey = (a: { namespace: string; pod: string; container: string }, b: typeof a) => (containerKey(a) < containerKey(b) ? -1 : containerKey(a) > containerKey(b) ? 1 : 0);
  for (const key of chosen.keys()) skipped.delete(key);
  return { containers: [...chosen.values()].sort(byKey), unmatched, skipped: [...skipped.values()].sort(byKey) };
}
