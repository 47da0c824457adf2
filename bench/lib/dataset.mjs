// A Kubernetes-like etcd dataset of a given size for the benchmark: pods, replicasets and deployments as
// kube-apiserver's protobuf (`k8s\0` envelope), configmaps as JSON, events, secrets encrypted at rest (random
// bytes) and custom resources as JSON; and the big values real clusters hold: Helm v3 release Secrets of ~1 MB (every
// revision of a release kept, so they come in runs among the namespace's small Secrets) and ConfigMaps of ~150 KB
// (dashboards, rendered configuration), a fifth and a tenth of the bytes. Values mix templated text (names, images,
// labels: compressible) with uids, hashes and base64 blobs, so a snapshot compresses roughly as real ones do (3-5x),
// not as runs of one repeated string would.
import { randomBytes } from 'node:crypto';
import { protobufObject, uidOf } from '../../dist/demo/sample-data.js';

const T0 = 1_763_000_000;
const WORDS = ['frontend', 'backend', 'cache', 'worker', 'api', 'auth', 'billing', 'search', 'ingest', 'metrics', 'mailer', 'gateway'];

/** Filler shaped like an object's spec and status, `bytes` long. */
function specFiller(bytes, seed) {
  const parts = [];
  let n = 0;
  let i = seed;
  while (n < bytes) {
    const w = WORDS[i % WORDS.length];
    const r = i % 10;
    let piece;
    if (r < 6) {
      piece = `{name: ${w}-${i % 7}, image: registry.example.com/team-${i % 13}/${w}:v1.${i % 20}.${i % 5}, ports: [{containerPort: ${8000 + (i % 90)}, protocol: TCP}], env: [{name: ${w.toUpperCase()}_URL, value: http://${w}.svc.cluster.local}], resources: {requests: {cpu: ${(i % 8) * 50}m, memory: ${(i % 16) * 32}Mi}}} `;
    } else if (r < 9) {
      piece = `sha256:${randomBytes(32).toString('hex')} uid=${uidOf(`${seed}/${i}`)} `;
    } else {
      piece = `checksum/config: ${randomBytes(96).toString('base64')} `;
    }
    parts.push(piece);
    n += piece.length;
    i++;
  }
  return Buffer.from(parts.join('').slice(0, bytes));
}

const KINDS = [
  // [share, resource, kind, apiVersion, format]
  [0.53, 'pods', 'Pod', 'v1', 'proto'],
  [0.12, 'replicasets', 'ReplicaSet', 'apps/v1', 'proto'],
  [0.05, 'deployments', 'Deployment', 'apps/v1', 'proto'],
  [0.1, 'configmaps', 'ConfigMap', 'v1', 'json'],
  [0.08, 'events', 'Event', 'v1', 'proto'],
  [0.1, 'secrets', 'Secret', 'v1', 'encrypted'],
  [0.02, 'monitoring.coreos.com/servicemonitors', 'ServiceMonitor', 'monitoring.coreos.com/v1', 'json'],
];

/** Shares of the bytes in big values, and their sizes. */
const HELM_SHARE = 0.2;
const HELM_RELEASE_BYTES = 1_000_000;
const HELM_REVISIONS = 10;
const BIG_CONFIGMAP_SHARE = 0.1;
const BIG_CONFIGMAP_BYTES = 150_000;

/** A Helm v3 release Secret: protobuf, its payload the base64 of a gzipped release (random bytes here). */
function helmRelease(ns, app, revision, last) {
  const name = `sh.helm.release.v1.${app}.v${revision}`;
  const key = `/registry/secrets/${ns}/${name}`;
  const payload = randomBytes(Math.floor((HELM_RELEASE_BYTES - 400) * 0.75)).toString('base64');
  const value = protobufObject('v1', 'Secret', {
    name, namespace: ns, uid: uidOf(key), labels: { name: app, owner: 'helm', status: last ? 'deployed' : 'superseded', version: String(revision) }, creationSeconds: T0 + revision,
  }, Buffer.from(payload));
  return { key: Buffer.from(key), value };
}

/** A big ConfigMap (a dashboard, a rendered configuration): JSON, mostly text. */
function bigConfigMap(ns, n) {
  const name = `dashboard-${n.toString(36)}`;
  const key = `/registry/configmaps/${ns}/${name}`;
  const data = specFiller(BIG_CONFIGMAP_BYTES - 300, n).toString('latin1');
  const value = Buffer.from(JSON.stringify({
    apiVersion: 'v1', kind: 'ConfigMap',
    metadata: { name, namespace: ns, uid: uidOf(key), resourceVersion: String(n + 1), creationTimestamp: '2025-11-13T02:13:20Z' },
    data: { 'dashboard.json': data },
  }));
  return { key: Buffer.from(key), value };
}

/**
 * Yields `{ key, value }` for `keys` keys whose values add up to about `bytes`, big values included (see above).
 * Deterministic in its layout (names, sizes), random in its uids and blobs.
 */
export function* benchDataset({ keys, bytes }) {
  const namespaces = Math.max(1, Math.round(keys / 250));
  const releases = Math.round((bytes * HELM_SHARE) / HELM_RELEASE_BYTES);
  const bigConfigMaps = Math.round((bytes * BIG_CONFIGMAP_SHARE) / BIG_CONFIGMAP_BYTES);
  for (let r = 0; r < releases; r++) {
    const app = `${WORDS[Math.floor(r / HELM_REVISIONS) % WORDS.length]}${Math.floor(r / HELM_REVISIONS)}`;
    const revision = (r % HELM_REVISIONS) + 1;
    yield helmRelease(`team-${(Math.floor(r / HELM_REVISIONS) % namespaces).toString(36)}`, app, revision, revision === HELM_REVISIONS || r === releases - 1);
  }
  for (let n = 0; n < bigConfigMaps; n++) yield bigConfigMap(`team-${(n % namespaces).toString(36)}`, n);
  const small = Math.max(1, keys - releases - bigConfigMaps);
  const smallBytes = bytes - releases * HELM_RELEASE_BYTES - bigConfigMaps * BIG_CONFIGMAP_BYTES;
  const mean = Math.max(64, Math.floor(smallBytes / small));
  for (let k = 0; k < small; k++) {
    let pick = (k * 0.6180339887) % 1;
    const [, resource, kind, apiVersion, format] = KINDS.find(([share]) => (pick -= share) < 0) ?? KINDS[0];
    const ns = `team-${(k % namespaces).toString(36)}`;
    const name = `${WORDS[k % WORDS.length]}-${k.toString(36)}`;
    const key = `/registry/${resource}/${ns}/${name}`;
    // Sizes vary around the mean (0.25x to 1.75x), as objects do.
    const size = Math.floor(mean * (0.25 + 1.5 * ((k * 0.7548776662) % 1)));
    let value;
    if (format === 'encrypted') {
      value = Buffer.concat([Buffer.from('k8s:enc:aescbc:v1:key1:'), randomBytes(Math.max(16, size - 23))]);
    } else if (format === 'json') {
      const text = specFiller(Math.max(16, size - 200), k).toString('latin1');
      value = Buffer.from(JSON.stringify({
        apiVersion, kind,
        metadata: { name, namespace: ns, uid: uidOf(key), resourceVersion: String(k + 1), creationTimestamp: '2025-11-13T02:13:20Z' },
        ...(kind === 'ConfigMap' ? { data: { 'config.yaml': text } } : { spec: { endpoints: [{ port: 'metrics', interval: '30s' }], selector: { matchLabels: { app: name.split('-')[0] } }, notes: text } }),
      }));
    } else {
      value = protobufObject(apiVersion, kind, {
        name, namespace: ns, uid: uidOf(key), labels: { app: name.split('-')[0], 'pod-template-hash': (k % 997).toString(16) }, creationSeconds: T0 + k,
      }, specFiller(Math.max(16, size - 150), k));
    }
    yield { key: Buffer.from(key), value };
  }
}

/** Loads the dataset with multi-put transactions (at most 128 ops and 1 MiB each), `concurrency` in flight. */
export async function loadBenchDataset(etcd, items, { concurrency = 6, onProgress } = {}) {
  let batch = [];
  let batchBytes = 0;
  let count = 0;
  let bytes = 0;
  const inFlight = new Set();
  const flush = async () => {
    if (batch.length === 0) return;
    const success = batch.map(({ key, value }) => ({ request_put: { key, value } }));
    batch = [];
    batchBytes = 0;
    const p = etcd.kv.txn({ compare: [], success, failure: [] });
    inFlight.add(p);
    p.finally(() => inFlight.delete(p)).catch(() => undefined);
    if (inFlight.size >= concurrency) await Promise.race(inFlight);
  };
  for (const item of items) {
    if (batch.length >= 128 || batchBytes + item.value.length + item.key.length > 1024 * 1024) await flush();
    batch.push(item);
    batchBytes += item.value.length + item.key.length;
    count++;
    bytes += item.value.length;
    if (onProgress && count % 20000 === 0) onProgress(count, bytes);
  }
  await flush();
  await Promise.all(inFlight);
  return { keys: count, bytes };
}
