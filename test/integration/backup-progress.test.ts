import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import { createBackup } from '../../src/ops/backup.js';
import { BackupRepository } from '../../src/store/backup-repository.js';
import { LocalStore } from '../../src/store/local-store.js';
import { dbSizeOver, startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { loggedOp } from '../helpers/progress-log.js';
import { loadBigValues } from '../helpers/faults.js';

/**
 * Before: a backup's `progress` lines in the log (a CronJob's, journald's) gave the bytes read and the rate only, and the
 * terminal's line no percentage, although the snapshot's size is known before it starts (etcd reports its database
 * size: the API's job progress has it as `totalBytes`, and the web UI shows percent and time left) and a key dump counts
 * its keys (the job's `keys`): an operator watching a backup of an 8 GB etcd could not tell how far it was. Now the
 * lines carry `total` (a snapshot) and `keys` (a key dump). The backups are real; only the progress timer is faked,
 * advanced 5 s at every turn of the event loop.
 */
let etcd: TestEtcd;
let work: string;

beforeAll(async () => {
  etcd = await startEtcd();
  work = await mkdtemp(join(tmpdir(), 'rs-backup-progress-'));
  await loadBigValues(etcd.endpoint, 64, 64 * 1024);
  // etcd's status gives the database size as of its last commit (every 100 ms): wait until it counts the values.
  await dbSizeOver(etcd, 4 * 1024 * 1024);
});

afterAll(async () => {
  await Promise.all([etcd?.stop(), work && rm(work, { recursive: true, force: true })]);
});

type Line = { msg: string; what?: string; bytes?: number; keys?: number; total?: number };

async function loggedBackup(strategy: string): Promise<{ manifest: Manifest; progress: Line[] }> {
  const env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: work, RS_BACKUP_STRATEGY: strategy, RS_COMPRESSION: 'none' };
  const { result, lines } = await loggedOp(env, (ctx) => createBackup(ctx, new BackupRepository(new LocalStore(work), 'default')));
  return { manifest: result, progress: lines.filter((l) => l.msg === 'progress' && l.what === 'backup') };
}

it('a snapshot backup reports the database size etcd gave as its total', async () => {
  const { manifest, progress } = await loggedBackup('snapshot');
  expect(progress.length).toBeGreaterThan(0);
  // The snapshot is the database etcd reported plus its 32-byte sha256 trailer (more only if etcd grew meanwhile).
  expect(progress.every((p) => p.total === manifest.rawSizeBytes - 32 && p.bytes! <= manifest.rawSizeBytes), JSON.stringify(progress)).toBe(true);
});

it('a key dump reports the keys it has dumped', async () => {
  const { manifest, progress } = await loggedBackup('raw');
  expect(progress.length).toBeGreaterThan(0);
  expect(progress.every((p) => typeof p.keys === 'number' && p.keys <= manifest.keys! && p.total === undefined), JSON.stringify(progress)).toBe(true);
  expect(progress.some((p) => p.keys! > 0), JSON.stringify(progress)).toBe(true);
});
