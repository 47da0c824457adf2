import { describe, expect, it } from 'vitest';
import type { Manifest } from '../../../src/archive/manifest.js';
import { combineObservers } from '../../../src/core/backup-observer.js';
import { addProcessMetrics, createMetrics, recordRestore } from '../../../src/server/metrics.js';

const manifest: Manifest = {
  format: 1,
  id: '20261122T030710.123Z-a1b2c3',
  cluster: 'default',
  strategy: 'raw',
  createdAt: '2026-11-22T03:07:10.123Z',
  artifact: '20261122T030710.123Z-a1b2c3.raw.tar.gz',
  contentType: 'tar',
  compression: 'gzip',
  encryption: 'none',
  sha256: '0'.repeat(64),
  sizeBytes: 1234,
  rawSizeBytes: 5678,
  etcd: { version: '3.4.23', revision: 42, apiVersion: 'v3' },
  keys: 99,
  tool: { name: 'reshifter', version: '0.1.0' },
  durationMs: 2500,
};

describe('metrics', () => {
  it('records a successful backup, a failure and retention through the observer', async () => {
    const m = createMetrics();
    m.observer.backupSucceeded!(manifest);
    m.observer.backupFailed!({ id: 'x', strategy: 'snapshot', durationMs: 700, aborted: false, reason: 'etcd down' });
    m.observer.backupFailed!({ id: 'y', strategy: 'snapshot', durationMs: 100, aborted: true, reason: 'SIGTERM' });
    m.observer.retentionDeleted!(['a', 'b', 'c']);
    const text = await m.registry.metrics();
    expect(text).toContain('reshifter_backup_total{strategy="raw",outcome="success"} 1');
    expect(text).toContain('reshifter_backup_total{strategy="snapshot",outcome="failure"} 1');
    expect(text).toContain('reshifter_backup_total{strategy="snapshot",outcome="aborted"} 1');
    expect(text).toContain('reshifter_backup_duration_seconds_sum{strategy="raw",outcome="success"} 2.5');
    expect(text).toContain('reshifter_backup_duration_seconds_bucket{le="5",strategy="raw",outcome="success"} 1');
    expect(text).toContain('reshifter_backup_size_bytes{strategy="raw"} 1234');
    expect(text).toContain('reshifter_backup_raw_size_bytes{strategy="raw"} 5678');
    expect(text).toContain('reshifter_backup_keys{strategy="raw"} 99');
    expect(text).toContain(`reshifter_backup_last_success_timestamp_seconds ${Date.parse(manifest.createdAt) / 1000}`);
    expect(text).toMatch(/reshifter_backup_last_failure_timestamp_seconds \d{10}/);
    expect(text).toContain('reshifter_retention_deleted_total 3');
    expect(text).toContain('reshifter_backup_etcd_cluster_changes_total 0');
    m.observer.etcdClusterChanged!({ id: 'z', clusterId: '2', previousId: 'y', previousClusterId: '1' });
    expect(await m.registry.metrics()).toContain('reshifter_backup_etcd_cluster_changes_total 1');
    m.observer.etcdClustersKept!(2);
    expect(await m.registry.metrics()).toContain('reshifter_backup_etcd_clusters 2');
    // The commit of the build: empty here, where the sources run without dist/build.json.
    expect(text).toMatch(/reshifter_build_info\{version="[^"]+",commit="",node="v\d+/);
  });

  it('counts restores for the restore command', async () => {
    const m = createMetrics();
    recordRestore('success', m);
    recordRestore('failure', m);
    recordRestore('success', m);
    const text = await m.registry.metrics();
    expect(text).toContain('reshifter_restore_total{outcome="success"} 2');
    expect(text).toContain('reshifter_restore_total{outcome="failure"} 1');
  });

  it('keeps registries apart and adds process metrics once', async () => {
    const a = createMetrics();
    const b = createMetrics();
    a.observer.retentionDeleted!(['x']);
    expect(await b.registry.metrics()).toContain('reshifter_retention_deleted_total 0');
    addProcessMetrics(a);
    addProcessMetrics(a); // a second call must not throw "already registered"
    expect(await a.registry.metrics()).toContain('process_resident_memory_bytes');
    expect(await b.registry.metrics()).not.toContain('process_resident_memory_bytes');
  });

  it('combines observers', () => {
    const seen: string[] = [];
    const o = combineObservers({ retentionDeleted: (ids) => seen.push(`a${ids.length}`) }, {}, { retentionDeleted: (ids) => seen.push(`b${ids.length}`) });
    o.retentionDeleted!(['x', 'y']);
    o.backupSucceeded!(manifest);
    expect(seen).toEqual(['a2', 'b2']);
  });
});
