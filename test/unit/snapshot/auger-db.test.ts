import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { augerPath } from '../../fixtures/auger/paths.js';
import { openSnapshot, verifyFile, type LiveKey } from '../../../src/snapshot/index.js';

// A real etcd backend file from etcd-io/auger's test data (see its README): no trailer, and a meta page that names a
// leaf page as the freelist (etcdctl 3.4 panics on it).
const DB = augerPath('boltdb-db');
const KEYS = augerPath('boltdb-keys.txt');

async function collect(iterable: AsyncIterable<LiveKey>): Promise<LiveKey[]> {
  const out: LiveKey[] = [];
  for await (const k of iterable) out.push(k);
  return out;
}

describe('auger boltdb-db', () => {
  it('has exactly the live keys of boltdb-keys.txt, in key order', async () => {
    const expected = (await readFile(KEYS, 'utf8')).split('\n').filter((l) => l !== '');
    const reader = await openSnapshot(DB);
    try {
      const keys = await collect(reader.liveKeys());
      expect(keys.map((k) => k.key.toString())).toEqual(expected);
    } finally {
      await reader.close();
    }
  });

  it('decodes /registry/namespaces/default: version 1, created and modified at 4, no lease', async () => {
    const reader = await openSnapshot(DB);
    try {
      const [ns] = await collect(reader.liveKeys({ prefix: '/registry/namespaces/default' }));
      expect(ns).toMatchObject({ version: 1, createRevision: 4, modRevision: 4, lease: 0n });
      expect(ns?.key.toString()).toBe('/registry/namespaces/default');
      // Kubernetes' protobuf envelope.
      expect(ns?.value.subarray(0, 4).toString('latin1')).toBe('k8s\0');
    } finally {
      await reader.close();
    }
  });

  it('computes a status without needing the broken freelist', async () => {
    const reader = await openSnapshot(DB);
    try {
      const status = await reader.status();
      expect(status).toMatchObject({ totalSize: 20480, trailer: 'absent' });
      // The last revision key written: compact_rev_key's mod revision.
      const [compactKey] = await collect(reader.liveKeys({ prefix: 'compact_rev_key' }));
      expect(status.revision).toBe(compactKey?.modRevision);
      expect(await reader.leases()).toEqual([]);
    } finally {
      await reader.close();
    }
  });

  it('reports the freelist inconsistency in one clear failed check, and passes the rest', async () => {
    const checks = await verifyFile(DB);
    const failed = checks.filter((c) => !c.ok);
    expect(failed).toHaveLength(1);
    expect(failed[0]?.name).toBe('freelist');
    expect(failed[0]?.detail).toMatch(/names page 2 as the freelist, but page 2 is a leaf page/);
    expect(failed[0]?.detail).not.toContain('\n');
    expect(checks.find((c) => c.name === 'pages')?.ok).toBe(true);
    expect(checks.find((c) => c.name === 'etcd key bucket')?.ok).toBe(true);
  });
});
