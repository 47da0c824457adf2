import { describe, expect, it } from 'vitest';
import { formatStats } from '../../../src/commands/stats.js';
import { sampleDataset } from '../../../src/demo/sample-data.js';
import { auditRow, auditRowText } from '../../../src/kube/audit-row.js';
import { DEFAULT_PREFIXES } from '../../../src/kube/index.js';
import { KeyStats, statsEntryOf } from '../../../src/kube/key-stats.js';
import { layoutPrefixes } from '../../../src/kube/resource-label.js';

describe('key stats', () => {
  it('counts the sample dataset by prefix, resource, namespace and encoding', () => {
    const stats = new KeyStats();
    const data = [...sampleDataset({ namespaces: 3, podsPerNamespace: 4, edgeCases: true })];
    for (const k of data) stats.add(statsEntryOf(k.key, k.value, DEFAULT_PREFIXES));
    const r = stats.report();
    expect(r.keys).toBe(data.length);
    expect(r.valueBytes).toBe(data.reduce((n, k) => n + k.value.length, 0));
    expect(r.keyBytes).toBe(data.reduce((n, k) => n + k.key.length, 0));
    expect(r.byResource.pods!.keys).toBe(3 * 4 + 1);
    expect(r.byResource.secrets!.keys).toBe(3);
    expect(r.byResource['widgets.example.com']!.keys).toBe(3);
    expect(r.byResource.services!.keys).toBe(3);
    expect(r.byResource.nodes!.keys).toBe(1);
    expect(r.byPrefix['/openshift.io']!.keys).toBe(2);
    expect(r.byPrefix['/kubernetes.io']!.keys).toBe(1);
    expect(r.byPrefix['(none)']!.keys).toBe(1); // compact_rev_key
    expect(r.byEncoding.encrypted!.keys).toBe(3);
    expect(r.byEncoding.json!.keys).toBe(4);
    expect(r.byEncoding.cbor!.keys).toBe(1);
    expect(r.byEncoding.empty!.keys).toBe(1);
    expect(r.byNamespace['team-1']!.keys).toBe(3 + 1 + 4 + 1 + 1);
    // Largest first: the ~1.4 MB configmap puts default on top.
    expect(Object.keys(r.byNamespace)[0]).toBe('default');
    const sum = (g: Record<string, { keys: number }>) => Object.values(g).reduce((n, t) => n + t.keys, 0);
    for (const g of [r.byPrefix, r.byResource, r.byNamespace, r.byEncoding]) expect(sum(g)).toBe(r.keys);
  });

  it('groups keys with `..`, `.` or empty segments honestly: no resource or namespace made of dots', () => {
    const stats = new KeyStats();
    for (const key of ['/registry/../../x', '/registry/./pods/x', '/registry//x', '/registry/secrets/default/..', '/registry/pods/../x', '/registry/pods/ns/web']) {
      stats.add(statsEntryOf(Buffer.from(key), Buffer.alloc(0), DEFAULT_PREFIXES));
    }
    const r = stats.report();
    expect(Object.keys(r.byResource).sort()).toEqual(['(other)', 'pods', 'secrets']);
    expect(r.byResource['(other)']!.keys).toBe(3);
    expect(r.byResource.pods!.keys).toBe(2);
    expect(r.byNamespace).toEqual({ '(none)': expect.objectContaining({ keys: 5 }), ns: expect.objectContaining({ keys: 1 }) });
  });

  it('prints labels as keys print: a namespace holding a newline cannot fake a row of the table', () => {
    const stats = new KeyStats();
    stats.add(statsEntryOf(Buffer.from('/registry/pods/ev\nil/x'), Buffer.alloc(0), DEFAULT_PREFIXES));
    const source = { kind: 'backup' as const, id: 'x', strategy: 'raw', apiVersion: 'v3' as const, revision: 1, prefixes: ['/registry'] };
    const lines = formatStats(source, stats.report());
    expect(lines.some((l) => /^ev\\x0ail\s+1\s/.test(l))).toBe(true);
    expect(lines.some((l) => l.startsWith('il'))).toBe(false);
  });

  it('keeps a namespace called __proto__ as data', () => {
    const stats = new KeyStats();
    stats.add(statsEntryOf(Buffer.from('/registry/pods/__proto__/x'), Buffer.from('{}'), DEFAULT_PREFIXES));
    const r = stats.report();
    expect(Object.keys(r.byNamespace)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).keys).toBeUndefined();
  });
});

describe('audit rows', () => {
  it('describes protobuf, JSON, encrypted and binary-keyed values', () => {
    const rows = [...sampleDataset({ namespaces: 1, podsPerNamespace: 1, edgeCases: true })].map((k) => auditRow(k.key, k.value, DEFAULT_PREFIXES, 7));
    const pod = rows.find((r) => r.key === '/registry/pods/default/web-0000')!;
    expect(pod).toMatchObject({ resource: 'pods', kind: 'Pod', apiVersion: 'v1', namespace: 'default', name: 'web-0000', encoding: 'protobuf', labels: { app: 'web' }, modRevision: 7 });
    expect(pod.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(pod.creationTimestamp).toBe('2025-11-13T02:13:20Z');
    expect(rows.find((r) => r.key.endsWith('/secrets/default/db-password'))).toMatchObject({ encoding: 'encrypted', encryption: 'aescbc/key1', namespace: 'default', name: 'db-password' });
    expect(rows.find((r) => r.resource === 'widgets.example.com')).toMatchObject({ kind: 'Widget', encoding: 'json', labels: { tier: 'gold' } });
    const bin = rows.find((r) => r.keyBase64 !== undefined)!;
    expect(Buffer.from(bin.keyBase64!, 'base64').subarray(-4)).toEqual(Buffer.from([0x00, 0xff, 0xfe, 0x80]));
    expect(auditRowText(pod).split('\t')).toHaveLength(10);
    expect(auditRowText({ key: 'a\tb', resource: 'x', size: 0, encoding: 'empty' })).toBe('a\\x09b\t-\t-\t-\t-\t-\t-\t0\tempty\t-');
    // A key that is not UTF-8: its printed form in `key` (no U+FFFD), the exact bytes in keyBase64, the text column alike.
    expect(bin.key).not.toContain('\ufffd');
    expect(bin.key.endsWith('\\x00\\xff\\xfe\\x80')).toBe(true);
    expect(auditRowText(bin).split('\t')[0]).toBe(bin.key);
  });

  it('reads the Kubernetes layout under "/" (every key)', () => {
    const layout = layoutPrefixes(['/'], DEFAULT_PREFIXES);
    expect(auditRow(Buffer.from('/registry/pods/a/b'), Buffer.alloc(0), layout).resource).toBe('pods');
    expect(layoutPrefixes(['/registry'], DEFAULT_PREFIXES)).toEqual(['/registry']);
  });
});
