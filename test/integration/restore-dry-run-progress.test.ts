import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import { restoreBackupKeys } from '../../src/ops/restore-keys.js';
import { BackupRepository } from '../../src/store/backup-repository.js';
import { LocalStore } from '../../src/store/local-store.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { loggedOp } from '../helpers/progress-log.js';
import { loadBigValues } from '../helpers/faults.js';
import { runInProcess } from '../helpers/in-process.js';

/**
 * Before: the plan of a restore of the hourly filter dump of Helm releases (`restore <id> --dry-run`, 840 keys, 7 s)
 * logged `progress` with `keys: 0` to its end: it counted keys written, and a dry run writes none; a real restore too
 * said 0 through its whole first pass, which reads the whole backup for namespaces and CRDs a filter dump does not
 * hold. It looked stuck. Progress now counts the keys planned in a dry run, and the keys read with the pass reading
 * them. The reads are real (a key dump of 64 values of 64 KiB planned against a real etcd); only the progress timer
 * is faked, as in diff-progress.
 */
let source: TestEtcd;
let target: TestEtcd;
let work: string;
let dump: Manifest;

beforeAll(async () => {
  [source, target] = await Promise.all([startEtcd(), startEtcd()]);
  work = await mkdtemp(join(tmpdir(), 'rs-restore-dry-progress-'));
  await loadBigValues(source.endpoint, 64, 64 * 1024);
  dump = JSON.parse((await runInProcess(['backup', '--json'], { RS_ETCD_ENDPOINTS: source.endpoint, RS_BACKUP_DIR: work, RS_BACKUP_STRATEGY: 'raw' })).stdout) as Manifest;
});

afterAll(async () => {
  await Promise.all([source?.stop(), target?.stop(), work && rm(work, { recursive: true, force: true })]);
});

it('a dry-run restore that lasts reports the keys it has planned as `restore` progress', async () => {
  const { result, lines } = await loggedOp({ RS_ETCD_ENDPOINTS: target.endpoint, RS_BACKUP_DIR: work }, (ctx) => restoreBackupKeys(ctx, new BackupRepository(new LocalStore(work), 'default'), dump, { dryRun: true, skipExisting: false }));
  expect(result.totals.create).toBe(dump.keys);
  const progress = lines.filter((l) => l.msg === 'progress' && l.what === 'restore');
  expect(progress.length, JSON.stringify(lines)).toBeGreaterThan(0);
  // The first pass writes nothing (no namespace, no CRD): what moves is the keys read, with the pass reading them.
  expect(progress.some((p) => p.read! > 0 && p.pass! >= 1), JSON.stringify(progress.slice(-3))).toBe(true);
  // Then the keys planned (a dry run writes none).
  expect(progress.some((p) => p.keys! > 0), JSON.stringify(progress.slice(-3))).toBe(true);
  expect(progress.every((p) => p.keys! <= dump.keys! && p.read! <= p.pass! * dump.keys!)).toBe(true);
});

// Before: a key restore of a snapshot (`restore <id> --keys`) said `read: 0` while each of its passes went through every
// revision of etcd's key bucket to find the live keys, before the first key is read: a pass per phase, so that silence
// came back at each phase. Its lines now say how many revisions the current pass has gone through (`scanned`).
it('a key restore of a snapshot reports the revisions its passes went through to find the keys', async () => {
  const env = { RS_ETCD_ENDPOINTS: source.endpoint, RS_BACKUP_DIR: work, RS_CLUSTER_NAME: 'snapshots' };
  const snapshot = JSON.parse((await runInProcess(['backup', '--json'], env)).stdout) as Manifest;
  const { result, lines } = await loggedOp({ RS_ETCD_ENDPOINTS: target.endpoint, RS_BACKUP_DIR: work, RS_CLUSTER_NAME: 'snapshots' }, (ctx) => restoreBackupKeys(ctx, new BackupRepository(new LocalStore(work), 'snapshots'), snapshot, { dryRun: true, skipExisting: false }));
  expect(result.totals.create).toBeGreaterThan(0);
  const progress = lines.filter((l) => l.msg === 'progress' && l.what === 'restore');
  expect(progress.length, JSON.stringify(lines)).toBeGreaterThan(0);
  expect(progress.every((p) => typeof p.scanned === 'number' && p.scanned <= snapshot.etcd!.revision), JSON.stringify(progress)).toBe(true);
  expect(progress.some((p) => p.scanned! > 0), JSON.stringify(progress)).toBe(true);
});
