import { describe, expect, it } from 'vitest';
import { diffKeys } from '../../../src/core/diff.js';
import { fieldDiff, isSensitiveObject, withoutFieldValues } from '../../../src/core/field-diff.js';
import { cbor, SELF_DESCRIBED } from '../kube/cbor-encode.js';
import { concat } from '../kube/fixtures.js';
import { ld, msg, storedObject, vf } from '../kube/proto-encode.js';

const json = (o: unknown) => Buffer.from(JSON.stringify(o));
const b64 = (s: string) => Buffer.from(s).toString('base64');

const configMap = (data: Record<string, string>, labels: Record<string, string> = { app: 'web' }) => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'settings', namespace: 'prod', uid: 'u-1', labels, creationTimestamp: '2026-01-01T00:00:00Z' },
  data,
});
const secret = (data: Record<string, string>, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: 'db', namespace: 'prod', uid: 'u-2', labels: { app: 'db' }, ...extra },
  type: 'Opaque',
  data,
});

/** A protobuf ObjectMeta: name, namespace, uid and labels. */
const protoMeta = (labels: Record<string, string>) =>
  msg(ld(1, 'settings'), ld(3, 'prod'), ld(5, 'u-1'), ...Object.entries(labels).map(([k, v]) => ld(11, msg(ld(1, k), ld(2, v)))));
/** Map entries of field `field`: {key = 1, value = 2}. */
const protoMap = (field: number, entries: Record<string, string | Uint8Array>) => Object.entries(entries).map(([k, v]) => ld(field, msg(ld(1, k), ld(2, v))));

describe('fieldDiff', () => {
  it('names the changed, added and removed fields of JSON objects, with their old and new values', () => {
    const d = fieldDiff(
      json(configMap({ key: 'v1', mode: 'fast', 'app.conf': 'a=1' })),
      json(configMap({ key: 'v2', mode: 'fast', extra: 'on' }, { app: 'web', 'app.kubernetes.io/part-of': 'shop' })),
      'configmaps',
    );
    expect(d).toEqual({
      compared: 'object',
      truncated: false,
      changes: [
        { path: 'metadata.labels["app.kubernetes.io/part-of"]', change: 'added', to: '"shop"' },
        { path: 'data.key', change: 'changed', from: '"v1"', to: '"v2"' },
        { path: 'data["app.conf"]', change: 'removed', from: '"a=1"' },
        { path: 'data.extra', change: 'added', to: '"on"' },
      ],
    });
  });

  it('walks lists by index and shows a subtree that appeared as one value', () => {
    const pod = (containers: unknown[], replicas: number) => json({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { replicas, template: { spec: { containers } } } });
    const d = fieldDiff(pod([{ name: 'web', image: 'nginx:1.25' }], 2), pod([{ name: 'web', image: 'nginx:1.27' }, { name: 'sidecar', image: 'envoy' }], 3), 'deployments');
    expect(d!.changes).toEqual([
      { path: 'spec.replicas', change: 'changed', from: '2', to: '3' },
      { path: 'spec.template.spec.containers[0].image', change: 'changed', from: '"nginx:1.25"', to: '"nginx:1.27"' },
      { path: 'spec.template.spec.containers[1]', change: 'added', to: '{"name":"sidecar","image":"envoy"}' },
    ]);
  });

  it("never gives a Secret's values, only the paths that changed", () => {
    const before = json(secret({ password: b64('hunter2-old'), user: b64('admin') }, { annotations: { 'kubectl.kubernetes.io/last-applied-configuration': `{"data":{"password":"${b64('hunter2-old')}"}}` } }));
    const after = json(secret({ password: b64('hunter2-new'), user: b64('admin'), token: b64('t0ken') }, { annotations: { 'kubectl.kubernetes.io/last-applied-configuration': `{"data":{"password":"${b64('hunter2-new')}"}}` } }));
    const d = fieldDiff(before, after, 'secrets')!;
    expect(d.valuesHidden).toBe('sensitive');
    expect(d.changes).toEqual([
      { path: 'metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"]', change: 'changed' },
      { path: 'data.password', change: 'changed' },
      { path: 'data.token', change: 'added' },
    ]);
    const text = JSON.stringify(d);
    for (const v of ['hunter2', b64('hunter2-old'), b64('hunter2-new'), b64('t0ken'), b64('admin')]) expect(text).not.toContain(v);
    // A Secret is known by its kind wherever it is stored, and by its resource whatever it holds.
    expect(fieldDiff(before, after, 'widgets.example.com')!.valuesHidden).toBe('sensitive');
    expect(fieldDiff(json(configMap({ a: '1' })), json(configMap({ a: '2' })), 'secrets')!.valuesHidden).toBe('sensitive');
  });

  it('hides the values of OAuth tokens and clients and of Helm releases kept as ConfigMaps', () => {
    expect(isSensitiveObject('oauthaccesstokens', undefined, undefined)).toBe(true);
    expect(isSensitiveObject(undefined, 'OAuthClient', undefined)).toBe(true);
    expect(isSensitiveObject('configmaps', 'ConfigMap', { owner: 'helm', name: 'app' })).toBe(true);
    expect(isSensitiveObject('configmaps', 'ConfigMap', { app: 'web' })).toBe(false);
    const helm = fieldDiff(json(configMap({ release: 'H4sI-old' }, { owner: 'helm' })), json(configMap({ release: 'H4sI-new' }, { owner: 'helm' })), 'configmaps')!;
    expect(helm).toMatchObject({ valuesHidden: 'sensitive', changes: [{ path: 'data.release', change: 'changed' }] });
    expect(JSON.stringify(helm)).not.toContain('H4sI');
  });

  it('never quotes a value it could not decode (JSON.parse quotes the text around the fault)', () => {
    const d = fieldDiff(Buffer.from('{"kind":"Secret","data":{"password":"s3cr3t"'), json(secret({ password: 'x' })), 'secrets')!;
    expect(d.compared).toBe('none');
    expect(d.note).toBe('the json value could not be decoded');
    expect(JSON.stringify(d)).not.toContain('s3cr3t');
  });

  it('compares CBOR objects as a whole', () => {
    const obj = (replicas: number) => concat(SELF_DESCRIBED, cbor({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', labels: { app: 'web' } }, spec: { replicas } }));
    expect(fieldDiff(obj(1), obj(4), 'deployments')).toEqual({ compared: 'object', truncated: false, changes: [{ path: 'spec.replicas', change: 'changed', from: '1', to: '4' }] });
  });

  it('compares the metadata of protobuf objects, and says when the change lies beyond it', () => {
    const pod = (labels: Record<string, string>, spec: string) => storedObject('v1', 'Pod', protoMeta(labels), ld(2, spec));
    const relabelled = fieldDiff(pod({ app: 'web' }, 'spec-1'), pod({ app: 'api', tier: 'gold' }, 'spec-1'), 'pods')!;
    expect(relabelled.compared).toBe('metadata');
    expect(relabelled.changes).toEqual([
      { path: 'metadata.labels.app', change: 'changed', from: '"web"', to: '"api"' },
      { path: 'metadata.labels.tier', change: 'added', to: '"gold"' },
    ]);
    const respecced = fieldDiff(pod({ app: 'web' }, 'spec-1'), pod({ app: 'web' }, 'spec-2'), 'pods')!;
    expect(respecced).toMatchObject({ compared: 'metadata', changes: [] });
    expect(respecced.note).toMatch(/only apiVersion, kind and metadata/);
  });

  it('reads the data of protobuf ConfigMaps and Secrets, as JSON would show it', () => {
    const cm = (data: Record<string, string>, binary: Record<string, Uint8Array> = {}) => storedObject('v1', 'ConfigMap', protoMeta({ app: 'web' }), ...protoMap(2, data), ...protoMap(3, binary));
    const d = fieldDiff(cm({ key: 'v1', keep: 'same' }), cm({ key: 'v2', keep: 'same' }, { 'logo.png': new Uint8Array([0, 1, 2]) }), 'configmaps')!;
    expect(d.compared).toBe('object');
    expect(d.changes).toEqual([
      { path: 'data.key', change: 'changed', from: '"v1"', to: '"v2"' },
      { path: 'binaryData', change: 'added', to: '{"logo.png":"AAEC"}' },
    ]);
    const immutable = fieldDiff(cm({ a: '1' }), storedObject('v1', 'ConfigMap', protoMeta({ app: 'web' }), ...protoMap(2, { a: '1' }), vf(4, 1)), 'configmaps')!;
    expect(immutable.changes).toEqual([{ path: 'immutable', change: 'added', to: 'true' }]);

    const sec = (pw: string, type: string) => storedObject('v1', 'Secret', protoMeta({ app: 'db' }), ...protoMap(2, { password: new TextEncoder().encode(pw) }), ld(3, type));
    const s = fieldDiff(sec('old-pw', 'Opaque'), sec('new-pw', 'kubernetes.io/basic-auth'), 'secrets')!;
    expect(s).toMatchObject({ compared: 'object', valuesHidden: 'sensitive', changes: [{ path: 'data.password', change: 'changed' }, { path: 'type', change: 'changed' }] });
    expect(JSON.stringify(s)).not.toMatch(/old-pw|new-pw|b2xkLXB3|bmV3LXB3|basic-auth/);
    // Values saved from `etcdctl get` end with a newline.
    expect(fieldDiff(concat(cm({ key: 'v1' }), [0x0a]), cm({ key: 'v2' }), 'configmaps')!.changes).toEqual([{ path: 'data.key', change: 'changed', from: '"v1"', to: '"v2"' }]);
  });

  it('compares metadata only when the encoding changed between the two', () => {
    const proto = storedObject('v1', 'Pod', protoMeta({ app: 'web' }), ld(2, 'spec'));
    const asJson = json({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'settings', namespace: 'prod', uid: 'u-1', labels: { app: 'api' } }, spec: {} });
    const d = fieldDiff(proto, asJson, 'pods')!;
    expect(d.compared).toBe('metadata');
    expect(d.note).toMatch(/encoding changed \(protobuf to json\)/);
    expect(d.changes).toEqual([{ path: 'metadata.labels.app', change: 'changed', from: '"web"', to: '"api"' }]);
  });

  it('says why nothing could be compared: encryption at rest, size', () => {
    const enc = (n: string) => Buffer.concat([Buffer.from('k8s:enc:aescbc:v1:key1:'), Buffer.from(n)]);
    expect(fieldDiff(enc('a'), enc('b'), 'secrets')).toEqual({ compared: 'none', changes: [], truncated: false, note: "encrypted at rest (aescbc): the fields cannot be read without the cluster's keys" });
    const big = json(configMap({ a: 'x'.repeat(2000) }));
    expect(fieldDiff(big, json(configMap({ a: 'y' })), 'configmaps', { maxValueBytes: 1024 })).toMatchObject({ compared: 'none', note: 'values over 1 KiB are not compared field by field' });
  });

  it('gives nothing for values that are no Kubernetes objects, and says when one side is not', () => {
    expect(fieldDiff(Buffer.from('1'), Buffer.from('2'), '(other)')).toBeUndefined();
    expect(fieldDiff(Buffer.alloc(0), Buffer.from('x'), 'configmaps')).toBeUndefined();
    expect(fieldDiff(Buffer.from('plain'), json(configMap({})), 'configmaps')).toMatchObject({ compared: 'none', note: 'the old value is not a Kubernetes object' });
  });

  it('is bounded: at most maxChanges changes, values cut to maxValueChars', () => {
    const many = (v: string) => json(configMap(Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`k${i}`, `${v}${i}`]))));
    const d = fieldDiff(many('a'), many('b'), 'configmaps', { maxChanges: 5 })!;
    expect(d.changes.map((c) => c.path)).toEqual(['data.k0', 'data.k1', 'data.k2', 'data.k3', 'data.k4']);
    expect(d.truncated).toBe(true);
    const long = fieldDiff(json(configMap({ a: 'x'.repeat(500) })), json(configMap({ a: 'y' })), 'configmaps', { maxValueChars: 20 })!;
    expect(long.changes[0]!.from).toBe(`"${'x'.repeat(19)}…`);
    // A surrogate pair is never cut in two.
    const emoji = fieldDiff(json(configMap({ a: `${'x'.repeat(18)}😀😀` })), json(configMap({ a: 'y' })), 'configmaps', { maxValueChars: 20 })!;
    expect(emoji.changes[0]!.from).toBe(`"${'x'.repeat(18)}…`);
  });

  it('compares managedFields as one field, and says when only the encoding differs', () => {
    const mf = (time: string) => json({ ...configMap({ a: '1' }), metadata: { name: 's', managedFields: [{ manager: 'kubectl', time, fieldsV1: { 'f:data': {} } }] } });
    expect(fieldDiff(mf('2026-01-01T00:00:00Z'), mf('2026-01-02T00:00:00Z'), 'configmaps')!.changes.map((c) => c.path)).toEqual(['metadata.managedFields']);
    const spaced = Buffer.from(JSON.stringify(configMap({ a: '1' }), null, 2));
    expect(fieldDiff(json(configMap({ a: '1' })), spaced, 'configmaps')).toMatchObject({ compared: 'object', changes: [], note: expect.stringMatching(/only their encoding differs/) });
  });

  it('keeps data keys that name object internals as plain data', () => {
    const d = fieldDiff(Buffer.from('{"kind":"ConfigMap","data":{"__proto__":"a","constructor":"b"}}'), Buffer.from('{"kind":"ConfigMap","data":{"__proto__":"c","constructor":"b"}}'), 'configmaps')!;
    expect(d.changes).toEqual([{ path: 'data.__proto__', change: 'changed', from: '"a"', to: '"c"' }]);
  });
});

describe('withoutFieldValues', () => {
  it('drops every value and says why, keeping the paths', () => {
    const cm = fieldDiff(json(configMap({ key: 'v1' })), json(configMap({ key: 'v2' })), 'configmaps')!;
    const sec = fieldDiff(json(secret({ p: 'a' })), json(secret({ p: 'b' })), 'secrets')!;
    const out = withoutFieldValues({ summary: 1, objects: [{ key: 'a', fields: cm }, { key: 'b', fields: sec }, { key: 'c' }] });
    expect(out.summary).toBe(1);
    expect(out.objects).toEqual([
      { key: 'a', fields: { compared: 'object', truncated: false, valuesHidden: 'no-token', changes: [{ path: 'data.key', change: 'changed' }] } },
      { key: 'b', fields: { compared: 'object', truncated: false, valuesHidden: 'sensitive', changes: [{ path: 'data.p', change: 'changed' }] } },
      { key: 'c' },
    ]);
    expect(JSON.stringify(out)).not.toContain('v1');
  });
});

describe('diffKeys with field diffs', () => {
  const entries = (n: number, v: string) =>
    Array.from({ length: n }, (_, i) => ({ key: Buffer.from(`/registry/configmaps/prod/cm-${i}`), value: json(configMap({ key: `${v}${i}` })) }));

  it('says which fields changed for the changed objects it lists, up to maxObjects of them', async () => {
    const d = await diffKeys(entries(3, 'a'), entries(3, 'b'), { fields: { maxObjects: 2 } });
    expect(d.objects.map((o) => o.fields?.changes)).toEqual([[{ path: 'data.key', change: 'changed', from: '"a0"', to: '"b0"' }], [{ path: 'data.key', change: 'changed', from: '"a1"', to: '"b1"' }], undefined]);
    expect((await diffKeys(entries(1, 'a'), entries(1, 'b'), { fields: false })).objects[0]).not.toHaveProperty('fields');
    // Added and removed objects have no field diff: the whole object is new or gone.
    const added = await diffKeys([], entries(1, 'a'));
    expect(added.objects[0]).not.toHaveProperty('fields');
  });
});
