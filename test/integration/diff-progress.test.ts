import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import { diffBackups } from '../../src/ops/diff.js';
import { BackupRepository } from '../../src/store/backup-repository.js';
import { LocalStore } from '../../src/store/local-store.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { loggedOp } from '../helpers/progress-log.js';
import { loadBigValues } from '../helpers/faults.js';
import { runInProcess } from '../helpers/in-process.js';

/**
 * Before: a diff of two dumps of a million keys read for 16 s (more for snapshots) and logged nothing until its
 * result, where a live stats or a restore logs `progress` every 5 s. The diff's reads are real (two zstd key dumps of
 * 4 MiB in a local store); only its progress timer is faked, advanced 5 s at every turn of the event loop while the
 * diff runs, so the test does not wait 5 s of wall-clock time.
 */
let etcd: TestEtcd;
let work: string;
const backups: Manifest[] = [];

beforeAll(async () => {
  etcd = await startEtcd();
  work = await mkdtemp(join(tmpdir(), 'rs-diff-progress-'));
  await loadBigValues(etcd.endpoint, 64, 64 * 1024);
  const env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: work, RS_BACKUP_STRATEGY: 'raw' };
  backups.push(JSON.parse((await runInProcess(['backup', '--json'], env)).stdout) as Manifest);
  await etcd.ctl(['put', '/registry/configmaps/default/added', 'x']);
  backups.push(JSON.parse((await runInProcess(['backup', '--json'], env)).stdout) as Manifest);
});

afterAll(async () => {
  await Promise.all([etcd?.stop(), work && rm(work, { recursive: true, force: true })]);
});

it('a diff that lasts reports the keys and bytes it has read as `diff` progress', async () => {
  const { result, lines } = await loggedOp({ RS_BACKUP_DIR: work }, (ctx) => diffBackups(ctx, new BackupRepository(new LocalStore(work), 'default'), backups[0]!, backups[1]!));
  expect(result.summary).toMatchObject({ added: 1, removed: 0, changed: 0 });
  const progress = lines.filter((l) => l.msg === 'progress');
  expect(progress.length, JSON.stringify(lines)).toBeGreaterThan(0);
  expect(progress.every((p) => p.what === 'diff' && p.keys! <= 2 * 64 + 1 && p.bytes! <= 2 * 64 * 65 * 1024)).toBe(true);
  expect(progress.some((p) => p.keys! > 0)).toBe(true);
});

// Before: a diff of two snapshots logged `"keys":0,"bytes":0` while each side's pass that finds its live keys went
// through every revision of etcd's key bucket (two 315 MiB snapshots from S3: keys 0 five seconds in). Now its lines
// say how many revisions those passes have gone through, both sides together (`scanned`).
it('a diff of snapshots reports the revisions the passes that find their keys went through', async () => {
  const env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: work, RS_CLUSTER_NAME: 'snapshots' };
  const from = JSON.parse((await runInProcess(['backup', '--json'], env)).stdout) as Manifest;
  await etcd.ctl(['put', '/registry/configmaps/default/added-later', 'x']);
  const to = JSON.parse((await runInProcess(['backup', '--json'], env)).stdout) as Manifest;
  const { result, lines } = await loggedOp({ RS_BACKUP_DIR: work, RS_CLUSTER_NAME: 'snapshots' }, (ctx) => diffBackups(ctx, new BackupRepository(new LocalStore(work), 'snapshots'), from, to));
  expect(result.summary).toMatchObject({ added: 1, removed: 0, changed: 0 });
  const progress = lines.filter((l) => l.msg === 'progress' && l.what === 'diff');
  expect(progress.length, JSON.stringify(lines)).toBeGreaterThan(0);
  expect(progress.every((p) => typeof p.scanned === 'number' && p.scanned <= from.etcd!.revision + to.etcd!.revision), JSON.stringify(progress)).toBe(true);
  expect(progress.some((p) => p.scanned! > 0), JSON.stringify(progress)).toBe(true);
});
