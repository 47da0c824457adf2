import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import type { KeyRestoreReport } from '../../src/ops/restore-keys.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { runInProcess } from '../helpers/in-process.js';

let source: TestEtcd;
let target: TestEtcd;
let store: string;
beforeAll(async () => {
  [source, target] = await Promise.all([startEtcd(), startEtcd()]);
  store = await mkdtemp(join(tmpdir(), 'rs-restore-filtered-by-'));
  await source.ctl(['put', '/registry/secrets/apps/sh.helm.release.v1.app.v1', 'r1']);
  await source.ctl(['put', '/registry/pods/apps/web', 'p1']);
  await source.ctl(['put', '/registry/pods/team-1/api', 'p2']);
});
afterAll(async () => {
  await Promise.all([source?.stop(), target?.stop()]);
  await rm(store, { recursive: true, force: true });
});

// The operator restores last night's raw dump with the environment of the hourly filter:secrets job (its Secret of
// variables reused): RS_BACKUP_STRATEGY filters restores too, so only the Secrets were written, and the plan said
// `skipped: 2 filtered` with nothing to say by what. It names the settings that filtered.
it('a restore whose keys were filtered names the settings that filtered them under the plan', async () => {
  const raw = JSON.parse((await runInProcess(['backup', '--strategy', 'raw', '--json'], { RS_ETCD_ENDPOINTS: source.endpoint, RS_BACKUP_DIR: store })).stdout) as Manifest;
  const hourlyJob = { RS_ETCD_ENDPOINTS: target.endpoint, RS_BACKUP_DIR: store, RS_BACKUP_STRATEGY: 'filter:secrets', RS_EXCLUDE_NAMESPACES: 'team-1' };
  const res = await runInProcess(['restore', raw.id, '--dry-run'], hourlyJob);
  expect(res.code, res.stderr).toBe(0);
  expect(res.stdout).toContain('skipped: 2 filtered (by RS_BACKUP_STRATEGY=filter:secrets, RS_EXCLUDE_NAMESPACES=team-1)');
  const json = JSON.parse((await runInProcess(['restore', raw.id, '--dry-run', '--json'], hourlyJob)).stdout) as KeyRestoreReport;
  expect(json.filters).toEqual(['RS_BACKUP_STRATEGY=filter:secrets', 'RS_EXCLUDE_NAMESPACES=team-1']);
  // Nothing filtered: no such words.
  const whole = await runInProcess(['restore', raw.id, '--dry-run'], { RS_ETCD_ENDPOINTS: target.endpoint, RS_BACKUP_DIR: store });
  expect(whole.stdout).not.toContain('filtered');
});
