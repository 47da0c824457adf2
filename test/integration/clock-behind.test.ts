import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import { createStore } from '../../src/store/create-store.js';
import { runCli } from '../helpers/cli.js';
import { moveAhead } from '../helpers/clock-ahead.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { startS3, type TestS3 } from '../helpers/s3.js';

/**
 * The clock of the machine taking a backup is behind a backup the store already holds (an NTP step back, a VM resumed
 * from an old snapshot, a second runner whose clock is ahead). The backup taken now holds the newest data: it must be
 * what `latest` reads and what retention keeps, and the operator hears that the clock looks behind. The store's
 * backup from "the future" is a real backup moved to an id a day ahead, as such a runner would have named it.
 */
let etcd: TestEtcd;
let s3: TestS3;
let work: string;

beforeAll(async () => {
  [etcd, s3] = await Promise.all([startEtcd(), startS3()]);
  work = await mkdtemp(join(tmpdir(), 'rs-clock-'));
});

afterAll(async () => {
  await Promise.all([etcd?.stop(), s3?.stop(), work && rm(work, { recursive: true, force: true })]);
});

const stores = {
  local: () => ({ RS_BACKUP_DIR: join(work, 'store') }),
  s3: () => s3.env,
};

describe.each(Object.keys(stores) as Array<keyof typeof stores>)('a clock behind the newest backup (%s store)', (kind) => {
  const cluster = `clock-${kind}`;
  const env = (extra: Record<string, string> = {}) => ({
    RS_ETCD_ENDPOINTS: etcd.endpoint, RS_CLUSTER_NAME: cluster, RS_BACKUP_STRATEGY: 'snapshot', ...stores[kind](), ...extra,
  });
  const backup = async (extra: Record<string, string> = {}) => {
    const res = await runCli(['backup', '--json'], env(extra));
    expect(res.code, res.stderr).toBe(0);
    const logs = res.stderr.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    return { m: JSON.parse(res.stdout) as Manifest, logs };
  };
  const json = async <T>(args: string[], extra: Record<string, string> = {}): Promise<T> => {
    const res = await runCli([...args, '--json'], env(extra));
    expect(res.code, res.stderr).toBe(0);
    return JSON.parse(res.stdout) as T;
  };

  let ahead: Manifest;
  let now: { m: Manifest; logs: Array<Record<string, unknown>> };
  let started: number;

  beforeAll(async () => {
    await etcd.ctl(['put', `/registry/configmaps/default/${kind}`, 'old']);
    const first = await backup();
    const store = createStore(kind === 'local' ? { kind: 'local', dir: join(work, 'store') } : {
      kind: 's3', bucket: s3.bucket, endpoint: s3.endpoint, region: 'us-east-1', prefix: '', forcePathStyle: true,
      accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', requestTimeoutMs: 5_000, retryWindowMs: 10_000,
    });
    try {
      ahead = await moveAhead(store, first.m, 24 * 3_600_000);
    } finally {
      await store.close();
    }
    await etcd.ctl(['put', `/registry/configmaps/default/${kind}`, 'new']);
    started = Date.now();
    now = await backup({ RS_RETENTION_KEEP_LAST: '2' });
  });

  it("the new backup's id follows the stored one; its createdAt is this clock's; a warning names both", () => {
    expect(now.m.id > ahead.id).toBe(true);
    expect(Date.parse(now.m.createdAt)).toBeGreaterThanOrEqual(started - 1000);
    expect(Date.parse(now.m.createdAt)).toBeLessThan(Date.parse(ahead.createdAt));
    const warned = now.logs.filter((l) => l.level === 'warn' && /clock looks behind/.test(String(l.msg)));
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatchObject({ backupId: now.m.id, newestBackup: ahead.id });
    expect(Date.parse(String(warned[0]!.clock))).toBeLessThan(Date.parse(ahead.createdAt));
    expect(warned[0]!.behindMs).toBeGreaterThan(23 * 3_600_000);
  });

  it('list shows it first, and latest is it: the newest data', async () => {
    expect((await json<Manifest[]>(['list'])).map((m) => m.id)).toEqual([now.m.id, ahead.id]);
    const inspected = await json<{ id?: string; revision: number }>(['inspect', 'latest']);
    expect(inspected.revision).toBe(now.m.etcd!.revision);
    expect(inspected.revision).toBeGreaterThan(ahead.etcd!.revision);
  });

  it('retention keeps it: KEEP_LAST=1 would delete the backup stamped ahead, not the new one', async () => {
    const plan = await json<{ deleted: string[]; kept: string[] }>(['prune', '--dry-run'], { RS_RETENTION_KEEP_LAST: '1' });
    expect(plan).toMatchObject({ deleted: [ahead.id], kept: [now.m.id] });
  });

  it('the next backup with KEEP_LAST=2 keeps the two taken last and deletes the one stamped ahead', async () => {
    const next = await backup({ RS_RETENTION_KEEP_LAST: '2' });
    expect(next.m.id > now.m.id).toBe(true);
    expect(next.logs.some((l) => l.level === 'warn' && l.newestBackup === now.m.id)).toBe(true);
    expect((await json<Manifest[]>(['list'])).map((m) => m.id)).toEqual([next.m.id, now.m.id]);
  });
});
