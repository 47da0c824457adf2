import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import { historyOf, revisionOf, storeSegmentOf } from '../helpers/delta-chain.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { runInProcess } from '../helpers/in-process.js';

/**
 * With `run` recording (RS_DELTA_INTERVAL), the newest backup is nearly always a delta segment of a few changes, so
 * `reshifter verify` (latest: any kind) checked that and said ok while the snapshot a recovery restores was never
 * read. It still checks the segment, and says which full backup was not checked and how to check it.
 */
let etcd: TestEtcd;
let dir: string;
let base: Manifest;
let segment: Manifest;
const env = () => ({ RS_BACKUP_DIR: dir, RS_ETCD_ENDPOINTS: etcd.endpoint });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rs-verify-segment-'));
  etcd = await startEtcd();
  await etcd.ctl(['put', '/registry/configmaps/default/a', 'a']);
  const res = await runInProcess(['backup', '--json'], env());
  expect(res.code, res.stderr).toBe(0);
  base = JSON.parse(res.stdout) as Manifest;
  await etcd.ctl(['put', '/registry/configmaps/default/b', 'b']);
  const top = await revisionOf(etcd);
  const events = await historyOf(etcd.endpoint, base.etcd!.revision + 1, top, () => Date.now());
  segment = await storeSegmentOf(env(), { base, fromRevision: base.etcd!.revision + 1, toRevision: top, events });
}, 60_000);

afterAll(async () => {
  await etcd?.stop();
  await rm(dir, { recursive: true, force: true });
});

it('verify of latest, a delta segment, names the full backup it did not check and the command that does', async () => {
  const res = await runInProcess(['verify'], env());
  expect(res.code, res.stderr).toBe(0);
  expect(res.stdout.split('\n')[0]).toContain(`backup ${segment.id} (delta, `);
  expect(res.stdout).toContain(`note: "latest" is a delta segment of the chain of ${base.id}; that full backup was not checked: "reshifter verify ${base.id} --chain" checks it and every segment`);
  // A segment named by id, and --json, are as they were.
  for (const args of [['verify', segment.id], ['verify', '--json']]) {
    const other = await runInProcess(args, env());
    expect(other.code, other.stderr).toBe(0);
    expect(other.stdout).not.toContain('note:');
  }
  const chain = await runInProcess(['verify', base.id, '--chain'], env());
  expect(chain.code, chain.stderr).toBe(0);
});
