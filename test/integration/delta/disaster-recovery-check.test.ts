import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Manifest } from '../../../src/archive/manifest.js';
import { runCli } from '../../helpers/cli.js';
import { historyOf, revisionOf, storeSegmentOf } from '../../helpers/delta-chain.js';
import { startEtcd, type TestEtcd } from '../../helpers/etcd.js';

let etcd: TestEtcd;
let restored: TestEtcd | undefined;
let work: string;
beforeAll(async () => {
  etcd = await startEtcd();
  work = await mkdtemp(join(tmpdir(), 'rs-dr-check-'));
});
afterAll(async () => {
  await Promise.all([etcd?.stop(), restored?.stop()]);
  await rm(work, { recursive: true, force: true });
});

// README, Disaster recovery, step 4: after `restore --to --data-dir` the restored etcd's counts are not those of
// `stats <id>` (the changes created and deleted keys), which the step told the operator to compare. It now says to
// compare it with the point: the same `--to` planned with `--keys --dry-run` against the restored etcd.
it('after restore --to --data-dir, a --keys --dry-run of the same point against the restored etcd writes and deletes nothing', async () => {
  const env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: join(work, 'store') };
  for (let i = 0; i < 6; i++) await etcd.ctl(['put', `/registry/configmaps/default/cm-${i}`, `v${i}`]);
  const made = await runCli(['backup', '--json', '--strategy', 'snapshot'], env);
  expect(made.code, made.stderr).toBe(0);
  const base = JSON.parse(made.stdout.trim().split('\n').at(-1)!) as Manifest;
  const from = base.etcd!.revision + 1;
  for (let i = 0; i < 3; i++) await etcd.ctl(['put', `/registry/pods/default/p-${i}`, `p${i}`]);
  await etcd.ctl(['put', '/registry/configmaps/default/cm-0', 'changed']);
  await etcd.ctl(['del', '/registry/configmaps/default/cm-1']);
  const to = await revisionOf(etcd);
  await storeSegmentOf(env, { base, fromRevision: from, toRevision: to, events: await historyOf(etcd.endpoint, from, to, () => Date.now()) });

  const dataDir = join(work, 'restored');
  const res = await runCli(['restore', base.id, '--to', String(to), '--data-dir', dataDir], env);
  expect(res.code, res.stderr).toBe(0);
  expect(res.stdout).toContain(`the state at revision ${to}`);
  restored = await startEtcd({ dataDir });
  const atRestored = { ...env, RS_ETCD_ENDPOINTS: restored.endpoint };

  // What step 4 said to compare differs, as it should: the base's stats count 6 keys, the restored etcd 8.
  const baseStats = JSON.parse((await runCli(['stats', base.id, '--json'], env)).stdout) as { keys: number };
  const liveStats = JSON.parse((await runCli(['stats', '--json'], atRestored)).stdout) as { keys: number };
  expect([baseStats.keys, liveStats.keys]).toEqual([6, 8]);

  // What it says now: the point planned against the restored etcd changes nothing.
  const check = await runCli(['restore', base.id, '--to', String(to), '--keys', '--dry-run'], atRestored);
  expect(check.code, check.stderr).toBe(0);
  expect(check.stdout).toMatch(/TOTAL\s+0\s+0\s+8\s+0/);
  expect(check.stdout).toContain(`would write 0 of 8 keys into ${restored.endpoint}`);
  expect(check.stdout).toContain('would delete 0 of 1 keys the changes deleted (1 were not there)');
}, 90_000);
