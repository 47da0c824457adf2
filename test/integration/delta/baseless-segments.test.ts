import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Manifest } from '../../../src/archive/manifest.js';
import { loadConfig } from '../../../src/config/load-config.js';
import type { DeltaEvent } from '../../../src/core/delta-event.js';
import { createLogger } from '../../../src/log.js';
import { storeSegment } from '../../../src/ops/store-segment.js';
import { BackupRepository } from '../../../src/store/backup-repository.js';
import { LocalStore } from '../../../src/store/local-store.js';
import { startEtcd, type TestEtcd } from '../../helpers/etcd.js';
import { startApi } from '../../helpers/api.js';
import { runInProcess } from '../../helpers/in-process.js';

let etcd: TestEtcd;
let store: string;
/** The revision the stranded segments reach, and the base's. */
let last = 0;
let baseRevision = 0;
beforeAll(async () => {
  etcd = await startEtcd();
  store = await mkdtemp(join(tmpdir(), 'rs-delta-baseless-'));
});
afterAll(async () => {
  await etcd?.stop();
  await rm(store, { recursive: true, force: true });
});

// Segments that `run` stored after their full backup was deleted (by an older retention, or by hand while run went on
// recording) restore nothing; `list` showed them as every other segment, 'delta of <id>', with nothing to say the id
// is gone. It says so under the listing, once per missing base.
it('list says which delta segments belong to a full backup the store no longer holds', async () => {
  const env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: store };
  const repo = new BackupRepository(new LocalStore(store), 'default');
  const ctx = { config: loadConfig(env).config!, log: createLogger('silent') };
  await etcd.ctl(['put', '/registry/secrets/apps/s', 'v1']);
  const base = JSON.parse((await runInProcess(['backup', '--json'], env)).stdout) as Manifest;
  const gone = '20261101T000000.000Z-abcdef';
  let from = base.etcd!.revision + 1;
  for (const b of [base.id, gone, gone]) {
    const events: DeltaEvent[] = [{ type: 'put', key: Buffer.from('/registry/secrets/apps/s'), value: Buffer.from(`v${from}`), createRevision: 2, modRevision: from, version: 2, observedAt: Date.now() }];
    await storeSegment(ctx, repo, {}, { base: b, baseRevision: base.etcd!.revision, etcdVersion: '3.4' }, { fromRevision: from, toRevision: from, events, bytes: 0, reason: 'interval' });
    from++;
  }
  last = from - 1;
  baseRevision = base.etcd!.revision;
  const res = await runInProcess(['list'], env);
  expect(res.code, res.stderr).toBe(0);
  const notes = res.stdout.split('\n').filter((l) => l.includes('which is not in the store'));
  expect(notes).toEqual([`2 delta segments of the chain of ${gone}, which is not in the store: they restore nothing (retention removes them once an hour old)`]);
});

// What those segments record cannot be restored, so `--to latest` (the newest change recorded) would silently give an
// older state: the one the whole chain reaches. Refused, naming that revision to give instead.
it('restore latest --to latest is refused when segments of a missing base record changes beyond what can be restored', async () => {
  const env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: store };
  const res = await runInProcess(['restore', 'latest', '--keys', '--to', 'latest', '--dry-run'], env);
  expect(res.code).toBe(1);
  expect(res.stderr).toContain(`--to latest would restore revision ${baseRevision + 1} from`);
  expect(res.stderr).toContain(`but delta segments of the chain of 20261101T000000.000Z-abcdef, which is not in the store, record changes up to revision ${last}: without their full backup they cannot be restored; give --to ${baseRevision + 1}`);
  const asMeant = await runInProcess(['restore', 'latest', '--keys', '--to', String(baseRevision + 1), '--dry-run'], env);
  expect(asMeant.code, asMeant.stderr).toBe(0);
});

it('so is the API\'s restore of latest to latest (409), naming that revision', async () => {
  const token = 'baseless-segments-token-0123';
  const api = await startApi({ RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: store, RS_API_TOKEN: token });
  try {
    const res = await api.call('/api/v1/restores', { method: 'POST', token, json: { backupId: 'latest', to: 'latest', dryRun: true } });
    expect(res.status).toBe(409);
    expect(((await res.json()) as { error: string }).error).toContain(`record changes up to revision ${last}: without their full backup they cannot be restored; give --to ${baseRevision + 1}`);
    const asMeant = await api.call('/api/v1/restores', { method: 'POST', token, json: { backupId: 'latest', to: String(baseRevision + 1), dryRun: true } });
    expect(asMeant.status).toBe(202);
  } finally {
    await api.stop();
  }
});

// The normal hand-over: a chain ends at exactly the revision of the full backup after it. Its base deleted, its
// segments record nothing past what that newer backup restores: no reason to refuse --to latest.
it('restore latest --to latest is not refused for segments of a missing base that reach no further than it restores', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rs-delta-baseless-even-'));
  try {
    const env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: dir };
    const repo = new BackupRepository(new LocalStore(dir), 'default');
    const ctx = { config: loadConfig(env).config!, log: createLogger('silent') };
    const rev = Number((await etcd.ctl(['put', '/registry/secrets/apps/even', 'v1', '-w', 'json'])).match(/"revision":(\d+)/)![1]);
    const newer = JSON.parse((await runInProcess(['backup', '--json'], env)).stdout) as Manifest;
    expect(newer.etcd!.revision).toBe(rev);
    const events: DeltaEvent[] = [{ type: 'put', key: Buffer.from('/registry/secrets/apps/even'), value: Buffer.from('v1'), createRevision: rev, modRevision: rev, version: 1, observedAt: Date.now() }];
    await storeSegment(ctx, repo, {}, { base: '20261101T000000.000Z-fedcba', baseRevision: rev - 1, etcdVersion: '3.4' }, { fromRevision: rev, toRevision: rev, events, bytes: 0, reason: 'close' });
    const res = await runInProcess(['restore', 'latest', '--keys', '--to', 'latest', '--dry-run', '--json'], env);
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ point: { base: { id: newer.id }, target: { revision: rev } } });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
