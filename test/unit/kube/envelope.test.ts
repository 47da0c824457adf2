import { describe, it, expect } from 'vitest';
import { decodeValue } from '../../../src/kube/index.js';
import { augerFile, augerJson, bytes, concat } from './fixtures.js';
import { ld, msg, storedObject, tag, vf } from './proto-encode.js';

describe('decodeValue on real protobuf objects', () => {
  for (const [bin, json, apiVersion, kind] of [
    ['storage-pod.bin', 'json-pod.json', 'v1', 'Pod'],
    ['storage-job.bin', 'json-job.json', 'batch/v1', 'Job'],
  ] as const) {
    it(`decodes ${bin} to the metadata of ${json}`, () => {
      const decoded = decodeValue(augerFile(bin));
      const expected = augerJson(json).metadata;
      expect(decoded.error).toBeUndefined();
      expect(decoded.encoding).toBe('protobuf');
      expect(decoded.apiVersion).toBe(apiVersion);
      expect(decoded.kind).toBe(kind);
      const meta = decoded.metadata!;
      expect(meta.name).toBe(expected['name']);
      expect(meta.namespace).toBe(expected['namespace']);
      expect(meta.uid).toBe(expected['uid']);
      expect(meta.labels).toEqual(expected['labels']);
      expect(meta.creationTimestamp).toBe(expected['creationTimestamp']);
      expect(meta.ownerReferences).toEqual(expected['ownerReferences']);
      expect(meta.generateName).toBe(expected['generateName']);
      expect(meta.annotations).toEqual(expected['annotations']);
    });

    it(`gives the same metadata for ${bin} and the JSON encoding of the same object`, () => {
      const fromProto = decodeValue(augerFile(bin));
      const fromJson = decodeValue(augerFile(json));
      expect(fromJson.encoding).toBe('json');
      expect(fromJson).toEqual({ ...fromProto, encoding: 'json' });
    });
  }

  it('reports annotation keys only when asked, without their values', () => {
    const decoded = decodeValue(augerFile('storage-pod.bin'), { annotations: 'keys' });
    expect(decoded.metadata?.annotations).toBeUndefined();
    expect(decoded.metadata?.annotationKeys).toEqual(['kubernetes.io/created-by', 'kubernetes.io/limit-ranger']);
    const json = decodeValue(augerFile('json-pod.json'), { annotations: 'keys' });
    expect(json.metadata?.annotationKeys).toEqual(decoded.metadata?.annotationKeys);
  });

  it('decodes the same bytes without the trailing newline that etcdctl output adds', () => {
    const pod = augerFile('storage-pod.bin');
    expect(pod[pod.length - 1]).toBe(0x0a);
    expect(decodeValue(pod.subarray(0, pod.length - 1))).toEqual(decodeValue(pod));
  });

  it('decodes a value that is a view into a larger buffer', () => {
    const pod = augerFile('storage-pod.bin');
    const big = concat([1, 2, 3], pod, [9, 9]);
    expect(decodeValue(big.subarray(3, 3 + pod.length))).toEqual(decodeValue(pod));
  });
});

describe('decodeValue on built protobuf objects', () => {
  const time = (seconds: number, nanos = 0) => msg(vf(1, seconds), ...(nanos ? [vf(2, nanos)] : []));

  it('reads every reported ObjectMeta field and skips unknown ones (15, 16, 17, groups, fixed)', () => {
    const meta = msg(
      ld(1, 'web-0'),
      ld(3, 'shop'),
      ld(4, '/api/v1/namespaces/shop/pods/web-0'),
      ld(5, 'uid-1'),
      ld(6, ''),
      vf(7, 42),
      ld(8, time(1_700_000_000, 123)),
      ld(9, time(1_700_000_600)),
      vf(10, 30),
      ld(11, msg(ld(1, 'app'), ld(2, 'web'))),
      ld(11, msg(ld(1, 'empty'))),
      ld(12, msg(ld(1, 'note'), ld(2, 'hello'))),
      ld(13, msg(ld(1, 'StatefulSet'), ld(3, 'web'), ld(4, 'uid-0'), ld(5, 'apps/v1'), vf(6, 1), vf(7, 0))),
      ld(14, 'example.com/protect'),
      ld(14, 'foregroundDeletion'),
      ld(15, 'retired'),
      vf(16, 7),
      ld(17, msg(ld(1, 'kubectl'))),
      concat(tag(18, 3), vf(1, 1), tag(18, 4)), // a group holding a varint
      concat(tag(19, 5), [1, 2, 3, 4], tag(20, 1), [1, 2, 3, 4, 5, 6, 7, 8]),
    );
    const decoded = decodeValue(storedObject('apps/v1', 'Pod', meta, ld(2, 'spec bytes')));
    expect(decoded).toEqual({
      encoding: 'protobuf',
      apiVersion: 'apps/v1',
      kind: 'Pod',
      metadata: {
        name: 'web-0',
        namespace: 'shop',
        uid: 'uid-1',
        generation: 42,
        creationTimestamp: '2023-11-14T22:13:20Z',
        deletionTimestamp: '2023-11-14T22:23:20Z',
        labels: { app: 'web', empty: '' },
        annotations: { note: 'hello' },
        ownerReferences: [
          { kind: 'StatefulSet', name: 'web', uid: 'uid-0', apiVersion: 'apps/v1', controller: true, blockOwnerDeletion: false },
        ],
        finalizers: ['example.com/protect', 'foregroundDeletion'],
      },
    });
  });

  it('reads negative and 64-bit generations exactly where JS numbers can', () => {
    expect(decodeValue(storedObject('v1', 'X', msg(vf(7, -1)))).metadata?.generation).toBe(-1);
    expect(decodeValue(storedObject('v1', 'X', msg(vf(7, 2 ** 40)))).metadata?.generation).toBe(2 ** 40);
  });

  it('treats an empty time as unset, as metav1.Time does', () => {
    const decoded = decodeValue(storedObject('v1', 'X', msg(ld(1, 'a'), ld(8, new Uint8Array()))));
    expect(decoded.metadata).toEqual({ name: 'a' });
  });

  it('keeps unicode, colons, percent signs and spaces in names and labels', () => {
    const decoded = decodeValue(storedObject('v1', 'ConfigMap', msg(ld(1, 'a:b%20c d-名前-ü'), ld(11, msg(ld(1, 'k'), ld(2, 'ø'))))));
    expect(decoded.metadata).toEqual({ name: 'a:b%20c d-名前-ü', labels: { k: 'ø' } });
  });

  it('stores a __proto__ label as data', () => {
    const decoded = decodeValue(storedObject('v1', 'X', msg(ld(11, msg(ld(1, '__proto__'), ld(2, 'x'))))));
    const labels = decoded.metadata?.labels ?? {};
    expect(Object.getPrototypeOf(labels)).toBe(Object.prototype);
    expect(Object.entries(labels)).toEqual([['__proto__', 'x']]);
  });

  it('keeps apiVersion and kind when the metadata is corrupt, and says what is wrong', () => {
    const corrupt = concat([0x6b, 0x38, 0x73, 0x00], ld(1, msg(ld(1, 'v1'), ld(2, 'Pod'))), ld(2, concat([0x0a, 0x7f], [1, 2])));
    const decoded = decodeValue(corrupt);
    expect(decoded).toMatchObject({ encoding: 'protobuf', apiVersion: 'v1', kind: 'Pod' });
    expect(decoded.metadata).toBeUndefined();
    expect(decoded.error).toMatch(/length 127 at offset \d+ exceeds the 2 bytes that remain/);
  });

  it('reports a wrong wire type by field name', () => {
    const decoded = decodeValue(storedObject('v1', 'X', msg(vf(1, 5))));
    expect(decoded.error).toBe('protobuf: metadata.name (field 1) has wire type 0, expected 2');
  });

  it('reports a missing raw object and a compressed one', () => {
    expect(decodeValue(concat([0x6b, 0x38, 0x73, 0x00], ld(1, msg(ld(1, 'v1'))))).error).toBe('runtime.Unknown has no raw object');
    const gz = concat([0x6b, 0x38, 0x73, 0x00], ld(1, msg(ld(2, 'Pod'))), ld(2, msg()), ld(3, 'gzip'));
    expect(decodeValue(gz)).toEqual({ encoding: 'protobuf', kind: 'Pod', error: 'raw object uses content encoding "gzip"' });
  });

  it('rejects a timestamp no date can hold', () => {
    const decoded = decodeValue(storedObject('v1', 'X', msg(ld(8, time(2 ** 50)))));
    expect(decoded.error).toMatch(/creationTimestamp of \d+ seconds is out of range/);
  });

  it('decodes just the magic as an object with no raw part', () => {
    expect(decodeValue(bytes('k8s\0'))).toEqual({ encoding: 'protobuf', error: 'runtime.Unknown has no raw object' });
  });
});

describe('decodeValue on JSON values', () => {
  it('decodes a custom resource written as JSON, after leading whitespace', () => {
    const value = bytes(
      ' \n\t{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w","namespace":"ns","generation":3,' +
        '"labels":{"a":"b"},"finalizers":["f"],"deletionTimestamp":"2024-01-01T00:00:00Z"},"spec":{"size":1}}',
    );
    expect(decodeValue(value)).toEqual({
      encoding: 'json',
      apiVersion: 'example.com/v1',
      kind: 'Widget',
      metadata: {
        name: 'w',
        namespace: 'ns',
        generation: 3,
        labels: { a: 'b' },
        finalizers: ['f'],
        deletionTimestamp: '2024-01-01T00:00:00Z',
      },
    });
  });

  it('ignores fields of the wrong type instead of failing', () => {
    const value = bytes('{"kind":7,"metadata":{"name":1,"labels":{"a":1,"b":"c"},"ownerReferences":[1,{"kind":"K"}]}}');
    expect(decodeValue(value)).toEqual({
      encoding: 'json',
      metadata: { labels: { b: 'c' }, ownerReferences: [{ apiVersion: '', kind: 'K', name: '', uid: '' }] },
    });
  });

  it('reports invalid JSON', () => {
    const decoded = decodeValue(bytes('{"kind": "Pod",'));
    expect(decoded.encoding).toBe('json');
    expect(decoded.error).toMatch(/^invalid JSON: /);
  });

  it('does not treat other JSON as an object', () => {
    expect(decodeValue(bytes('[1,2]'))).toEqual({ encoding: 'other' });
    expect(decodeValue(bytes('12345'))).toEqual({ encoding: 'other' });
  });
});

describe('decodeValue on encrypted values', () => {
  for (const [prefix, provider, version, keyName] of [
    ['k8s:enc:aescbc:v1:key1:', 'aescbc', 'v1', 'key1'],
    ['k8s:enc:aesgcm:v1:key-2024:', 'aesgcm', 'v1', 'key-2024'],
    ['k8s:enc:secretbox:v1:box:', 'secretbox', 'v1', 'box'],
    ['k8s:enc:kms:v1:vault-plugin:', 'kms', 'v1', 'vault-plugin'],
    ['k8s:enc:kms:v2:aws-kms:', 'kms', 'v2', 'aws-kms'],
    ['k8s:enc:newcipher:v9:k:', 'newcipher', 'v9', 'k'],
  ] as const) {
    it(`reads ${prefix}`, () => {
      // The payload is binary and may itself contain colons; it must not be read.
      const value = concat(bytes(prefix), [0x00, 0x3a, 0xff, 0x3a, 0x10]);
      expect(decodeValue(value)).toEqual({ encoding: 'encrypted', encryption: { provider, version, keyName } });
    });
  }

  it('reports a truncated prefix', () => {
    const decoded = decodeValue(bytes('k8s:enc:aescbc:v1'));
    expect(decoded).toMatchObject({ encoding: 'encrypted', encryption: { provider: 'aescbc', version: '', keyName: '' } });
    expect(decoded.error).toMatch(/malformed prefix/);
  });

  it('does not scan a huge value for a colon that never comes', () => {
    const decoded = decodeValue(concat(bytes('k8s:enc:'), new Uint8Array(5_000_000).fill(0x61)));
    expect(decoded.encoding).toBe('encrypted');
    expect(decoded.error).toMatch(/malformed prefix/);
  });
});

describe('decodeValue on other values', () => {
  it('reports an empty value', () => {
    expect(decodeValue(new Uint8Array())).toEqual({ encoding: 'empty' });
  });

  it('reports text and garbage as other, without an error', () => {
    expect(decodeValue(bytes('123456'))).toEqual({ encoding: 'other' });
    expect(decodeValue(new Uint8Array([0xff, 0x00, 0x13, 0x37]))).toEqual({ encoding: 'other' });
    expect(decodeValue(bytes('k8s'))).toEqual({ encoding: 'other' });
    expect(decodeValue(bytes('   '))).toEqual({ encoding: 'other' });
  });
});

describe('decodeValue on input that is not bytes at all', () => {
  it('returns an error instead of throwing', () => {
    const decoded = decodeValue(null as unknown as Uint8Array);
    expect(decoded.encoding).toBe('other');
    expect(decoded.error).toMatch(/^unexpected failure: /);
  });
});
