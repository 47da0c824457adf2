import { kubeNameProblem } from '../kube/names.js';
import type { KubeletContainer, KubeletPod } from './types.js';

/** A node runs at most a few hundred pods (the kubelet's default maxPods is 110). */
const MAX_PODS = 5000;
const MAX_CONTAINERS = 500;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Reads the kubelet's `GET /pods` answer (a v1 PodList: items with metadata {name, namespace, uid}, spec
 * {nodeName, containers, initContainers}, status {phase, containerStatuses, initContainerStatuses}) into the few
 * facts a checkpoint needs. The reply is untrusted: anything off throws an Error naming the item and the field, and
 * names that no Kubernetes object can have are refused, since they go into URLs and backup names.
 */
export function parsePodList(body: Buffer): KubeletPod[] {
  let data: unknown;
  try {
    data = JSON.parse(body.toString('utf8'));
  } catch {
    throw new Error('the answer is not JSON');
  }
  if (!isObj(data)) throw new Error('the answer is not a JSON object');
  if (data.kind !== undefined && data.kind !== 'PodList') throw new Error(`the answer is a ${JSON.stringify(String(data.kind)).slice(0, 40)}, not a PodList`);
  const items = data.items ?? [];
  if (!Array.isArray(items)) throw new Error('"items" is not a list');
  if (items.length > MAX_PODS) throw new Error(`it lists ${items.length} pods, more than a node runs`);
  return items.map((item, i) => parsePod(item, i));
}

function parsePod(item: unknown, i: number): KubeletPod {
  const bad = (why: string): never => {
    throw new Error(`pod ${i + 1} of the list ${why}`);
  };
  if (!isObj(item)) return bad('is not an object');
  const meta = isObj(item.metadata) ? item.metadata : bad('has no metadata');
  const spec = isObj(item.spec) ? item.spec : bad('has no spec');
  const status = isObj(item.status) ? item.status : {};
  const name = typeof meta.name === 'string' ? meta.name : bad('has no metadata.name');
  const namespace = typeof meta.namespace === 'string' ? meta.namespace : bad('has no metadata.namespace');
  const uid = typeof meta.uid === 'string' && meta.uid.length <= 128 ? meta.uid : bad('has no metadata.uid');
  for (const [kind, value] of [['namespace', namespace], ['pod', name]] as const) {
    const problem = kubeNameProblem(kind, value);
    if (problem !== undefined) bad(`has a malformed name: ${problem}`);
  }
  const states = new Map<string, KubeletContainer['state']>();
  for (const key of ['containerStatuses', 'initContainerStatuses']) {
    const list = status[key] ?? [];
    if (!Array.isArray(list)) bad(`has status.${key} that is not a list`);
    for (const s of list as unknown[]) {
      if (!isObj(s) || typeof s.name !== 'string') bad(`has a status.${key} entry without a name`);
      const st = isObj((s as Obj).state) ? ((s as Obj).state as Obj) : {};
      states.set(`${key === 'initContainerStatuses' ? 'init:' : ''}${(s as Obj).name as string}`, 'running' in st ? 'running' : 'terminated' in st ? 'terminated' : 'waiting' in st ? 'waiting' : 'unknown');
    }
  }
  const containers: KubeletContainer[] = [];
  for (const [key, init] of [['containers', false], ['initContainers', true]] as const) {
    const list = spec[key] ?? [];
    if (!Array.isArray(list) || list.length > MAX_CONTAINERS) bad(`has spec.${key} that is not a list of containers`);
    for (const c of list as unknown[]) {
      if (!isObj(c) || typeof c.name !== 'string') bad(`has a spec.${key} entry without a name`);
      const cname = (c as Obj).name as string;
      const problem = kubeNameProblem('container', cname);
      if (problem !== undefined) bad(`has a malformed container name: ${problem}`);
      containers.push({ name: cname, init, state: states.get(`${init ? 'init:' : ''}${cname}`) ?? 'unknown' });
    }
  }
  const pod: KubeletPod = { namespace, name, uid, containers };
  if (typeof spec.nodeName === 'string') pod.nodeName = spec.nodeName.slice(0, 253);
  if (typeof status.phase === 'string') pod.phase = status.phase.slice(0, 32);
  return pod;
}
