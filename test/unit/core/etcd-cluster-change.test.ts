import { describe, expect, it } from 'vitest';
import { clusterChanges, retentionClusters, type ClusterBackup } from '../../../src/core/etcd-cluster-change.js';

/** A backup of `strategy` taken at second `s`, of etcd cluster `cluster` (undefined: a manifest older than the field). */
const b = (s: number, cluster: string | undefined, strategy = 'snapshot'): ClusterBackup => ({
  id: `20261207T0000${String(s).padStart(2, '0')}.000Z-aaaaaa`,
  strategy,
  etcd: { version: '3.4.23', revision: 1, apiVersion: 'v3', ...(cluster !== undefined && { clusterId: cluster }) },
});

describe('etcd cluster changes within a series', () => {
  it('marks the first backup of another cluster than the one before it, per series, skipping backups that record none', () => {
    const changes = clusterChanges([b(1, '1'), b(2, undefined), b(3, '2'), b(4, '2'), b(5, '1'), b(6, '9', 'raw'), b(7, '1', 'raw')]);
    expect([...changes.values()].map((c) => [c.id, c.previousId, c.previousClusterId])).toEqual([
      [b(3, '2').id, b(1, '1').id, '1'],
      [b(5, '1').id, b(4, '2').id, '2'],
      [b(7, '1', 'raw').id, b(6, '9', 'raw').id, '9'],
    ]);
  });

  it("counts backups older than the field with the next backup's cluster (after an upgrade), else the one before", () => {
    const clusters = retentionClusters([b(1, undefined), b(2, undefined), b(3, '1'), b(4, '2'), b(5, undefined), b(6, undefined, 'raw')]);
    expect([1, 2, 3, 4, 5].map((s) => clusters.get(b(s, undefined).id))).toEqual(['1', '1', '1', '2', '2']);
    expect(clusters.get(b(6, undefined, 'raw').id)).toBe('');
  });

  it('counts backups older than the field on their own when their members are not those of the next one', () => {
    const withMembers = (m: ClusterBackup, peer: string): ClusterBackup => ({ ...m, etcd: { ...m.etcd!, members: [{ name: 'm1', peerURLs: [peer] }] } });
    const backups = [withMembers(b(1, undefined), 'https://a:2380'), withMembers(b(2, '7'), 'https://b:2380'), withMembers(b(3, undefined), 'https://b:2380')];
    const clusters = retentionClusters(backups);
    expect(backups.map((m) => clusters.get(m.id))).toEqual(['', '7', '7']);
  });
});
