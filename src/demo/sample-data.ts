import { createHash } from 'node:crypto';
import { varintBytes } from '../core/varint.js';

/** One key of a Kubernetes-like dataset. `leaseTtl` asks for the key to be attached to a lease of that TTL. */
export interface SampleKey {
  key: Buffer;
  value: Buffer;
  leaseTtl?: number;
}

// A minimal protobuf writer, enough to build the `k8s\0` envelope the way kube-apiserver stores objects.
const varint = (n: number | bigint): Buffer => varintBytes(BigInt(n));
const field = (num: number, payload: Buffer | string) => {
  const b = typeof payload === 'string' ? Buffer.from(payload) : payload;
  return Buffer.concat([varint((num << 3) | 2), varint(b.length), b]);
};
const intField = (num: number, n: number) => Buffer.concat([varint(num << 3), varint(n)]);

export interface ObjectMetaInput {
  name: string;
  namespace?: string;
  uid: string;
  labels?: Record<string, string>;
  creationSeconds: number;
}

/** Encodes an object as kube-apiserver stores it: `k8s\0` + runtime.Unknown{typeMeta, raw}. */
export function protobufObject(apiVersion: string, kind: string, meta: ObjectMetaInput, spec: Buffer = Buffer.alloc(0)): Buffer {
  const labels = Object.entries(meta.labels ?? {}).map(([k, v]) => field(11, Buffer.concat([field(1, k), field(2, v)])));
  const objectMeta = Buffer.concat([
    field(1, meta.name),
    ...(meta.namespace ? [field(3, meta.namespace)] : []),
    field(5, meta.uid),
    field(6, ''),
    intField(7, 1),
    field(8, intField(1, meta.creationSeconds)),
    ...labels,
  ]);
  const raw = Buffer.concat([field(1, objectMeta), ...(spec.length > 0 ? [field(2, spec)] : [])]);
  const unknown = Buffer.concat([
    field(1, Buffer.concat([field(1, apiVersion), field(2, kind)])),
    field(2, raw),
    field(3, ''),
    field(4, ''),
  ]);
  return Buffer.concat([Buffer.from([0x6b, 0x38, 0x73, 0x00]), unknown]);
}

/** A stable fake uid derived from a key. */
export function uidOf(key: string): string {
  const h = createHash('sha1').update(key).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

const T0 = 1_763_000_000;

export interface DatasetOptions {
  namespaces?: number;
  podsPerNamespace?: number;
  /** Bytes of filler in each pod's spec, to make the dataset bigger. */
  podSpecBytes?: number;
  /** Include the edge cases: OpenShift keys, odd names, binary keys, big and empty values, leased events. */
  edgeCases?: boolean;
}

/**
 * A Kubernetes-like dataset: namespaces, a CRD and custom resources (JSON), deployments, services, configmaps,
 * pods (protobuf), secrets encrypted at rest, leased events, and (with `edgeCases`) OpenShift keys, unicode,
 * spaces, `:` and `%` in names, a ~1.4 MB value, an empty value and binary keys.
 */
export function* sampleDataset(opts: DatasetOptions = {}): Generator<SampleKey> {
  const namespaces = opts.namespaces ?? 3;
  const filler = Buffer.alloc(opts.podSpecBytes ?? 200, 'containers: [{image: registry.example/app:v1}] ');
  const crd = '/registry/apiextensions.k8s.io/customresourcedefinitions/widgets.example.com';
  yield {
    key: k(crd),
    value: Buffer.from(JSON.stringify({
      apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition',
      metadata: { name: 'widgets.example.com', uid: uidOf(crd), creationTimestamp: '2025-11-13T02:13:20Z' },
      spec: { group: 'example.com', names: { plural: 'widgets', kind: 'Widget' }, scope: 'Namespaced' },
    })),
  };
  for (let n = 0; n < namespaces; n++) yield* namespaceKeys(n, opts.podsPerNamespace ?? 5, filler);
  const nodeKey = '/registry/minions/node-1';
  yield { key: k(nodeKey), value: obj('v1', 'Node', nodeKey, 'node-1') };
  yield { key: k('compact_rev_key'), value: k('1') };
  if (opts.edgeCases) yield* edgeCaseKeys();
}

const k = (s: string) => Buffer.from(s);

/** A Kubernetes object as the apiserver stores it (protobuf), named by its key. */
const obj = (apiVersion: string, kind: string, key: string, name: string, namespace?: string, spec?: Buffer) =>
  protobufObject(apiVersion, kind, {
    name,
    ...(namespace !== undefined && { namespace }),
    uid: uidOf(key),
    labels: { app: name.split('-')[0] ?? name },
    creationSeconds: T0,
  }, spec);

/** Namespace `n` (`default`, then `team-N`) and what is in it. */
function* namespaceKeys(n: number, pods: number, filler: Buffer): Generator<SampleKey> {
  const ns = n === 0 ? 'default' : `team-${n}`;
  const nsKey = `/registry/namespaces/${ns}`;
  yield { key: k(nsKey), value: obj('v1', 'Namespace', nsKey, ns) };
  for (const [res, kind, apiVersion] of [
    ['deployments', 'Deployment', 'apps/v1'],
    ['services/specs', 'Service', 'v1'],
    ['configmaps', 'ConfigMap', 'v1'],
  ] as const) {
    const key = `/registry/${res}/${ns}/web`;
    yield { key: k(key), value: obj(apiVersion, kind, key, 'web', ns) };
  }
  const secretKey = `/registry/secrets/${ns}/db-password`;
  yield { key: k(secretKey), value: Buffer.concat([k('k8s:enc:aescbc:v1:key1:'), createHash('sha256').update(secretKey).digest()]) };
  for (let p = 0; p < pods; p++) {
    const name = `web-${p.toString(36).padStart(4, '0')}`;
    const key = `/registry/pods/${ns}/${name}`;
    yield { key: k(key), value: obj('v1', 'Pod', key, name, ns, filler) };
  }
  const crKey = `/registry/example.com/widgets/${ns}/gadget`;
  yield {
    key: k(crKey),
    value: Buffer.from(JSON.stringify({
      apiVersion: 'example.com/v1', kind: 'Widget',
      metadata: { name: 'gadget', namespace: ns, uid: uidOf(crKey), labels: { tier: 'gold' }, creationTimestamp: '2025-11-13T02:13:20Z' },
      spec: { size: n },
    })),
  };
  const evKey = `/registry/events/${ns}/web.17a${n}`;
  yield { key: k(evKey), value: obj('v1', 'Event', evKey, `web.17a${n}`, ns), leaseTtl: 3600 };
}

/** OpenShift keys, odd names, a big and an empty value, binary keys, CBOR. */
function* edgeCaseKeys(): Generator<SampleKey> {
  for (const [key, kind] of [
    ['/kubernetes.io/pods/openshift-console/console-1', 'Pod'],
    ['/openshift.io/routes/openshift-console/console', 'Route'],
    ['/openshift.io/users/alice', 'User'],
  ] as const) {
    const parts = key.split('/');
    const ns = parts.length === 5 ? parts[3] : undefined;
    yield { key: k(key), value: obj(kind === 'Pod' ? 'v1' : 'route.openshift.io/v1', kind, key, parts[parts.length - 1]!, ns) };
  }
  for (const name of ['ünïcødé-名前', 'with space', 'colon:name', 'percent%41name']) {
    const key = `/registry/configmaps/default/${name}`;
    yield { key: k(key), value: obj('v1', 'ConfigMap', key, name, 'default') };
  }
  const bigKey = '/registry/configmaps/default/big';
  yield { key: k(bigKey), value: obj('v1', 'ConfigMap', bigKey, 'big', 'default', Buffer.alloc(1_400_000, 'x')) };
  yield { key: k('/registry/configmaps/default/empty'), value: Buffer.alloc(0) };
  yield { key: Buffer.concat([k('/registry/configmaps/default/bin-'), Buffer.from([0x00, 0xff, 0xfe, 0x80])]), value: Buffer.from([0, 1, 2, 255]) };
  yield { key: Buffer.from('/registry/cbor/default/thing'), value: Buffer.from([0xd9, 0xd9, 0xf7, 0xa1, 0x61, 0x61, 0x01]) };
}
