import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import { verifyBackup } from '../../src/ops/verify.js';
import { BackupRepository } from '../../src/store/backup-repository.js';
import { LocalStore } from '../../src/store/local-store.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { loadBigValues } from '../helpers/faults.js';
import { runInProcess } from '../helpers/in-process.js';
import { loggedVerify } from '../helpers/progress-log.js';

/**
 * Before: `verify` of a 4 GB snapshot backup logged `verify` progress while it read the stored bytes, then nothing for
 * the 14-20 s it took to decode the copy and walk the database. Both now report theirs (`decode`: the stored bytes
 * decoded; `walk`: the bytes of the database the walk has read). The verify is real (a zstd snapshot backup in a
 * local store); only the progress timer is faked, advanced 5 s at every turn of the event loop while it runs.
 */
let etcd: TestEtcd;
let work: string;

beforeAll(async () => {
  etcd = await startEtcd();
  work = await mkdtemp(join(tmpdir(), 'rs-verify-walk-'));
  await loadBigValues(etcd.endpoint, 16, 256 * 1024);
});

afterAll(async () => {
  await Promise.all([etcd?.stop(), work && rm(work, { recursive: true, force: true })]);
});

it.each(['zstd', 'none'])('verify of a %s snapshot backup reports the walk of its database as `walk` progress', async (compression) => {
  const cluster = `walk-${compression}`;
  const m = JSON.parse((await runInProcess(['backup', '--json', '--cluster', cluster, '--compression', compression], { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: work })).stdout) as Manifest;
  const lines = await loggedVerify({ RS_BACKUP_DIR: work, RS_CLUSTER_NAME: cluster }, (ctx) =>
    verifyBackup(ctx, new BackupRepository(new LocalStore(work), cluster), m),
  );
  const walk = lines.filter((l) => l.msg === 'progress' && l.what === 'walk');
  expect(walk.length, JSON.stringify(lines)).toBeGreaterThan(0);
  expect(walk.every((p) => p.bytes! >= 0)).toBe(true);
  expect(walk.some((p) => p.bytes! > 0)).toBe(true);
  if (compression === 'zstd') expect(lines.some((l) => l.msg === 'progress' && l.what === 'decode' && l.total === m.sizeBytes)).toBe(true);
});
