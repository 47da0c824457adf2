import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';

/**
 * A restore of one key takes milliseconds: its summary said 'in 0.0 s (0 keys/s)' (or '0.1 s (10 keys/s)'), a time
 * rounded away and a rate extrapolated from it. It now says the time in ms and a rate only over a second or more;
 * --json keeps its fields, with a finite keysPerSecond.
 */
let etcd: TestEtcd;
let work: string;
let raw: Manifest;
let snapshot: Manifest;
const KEY = '/registry/configmaps/ns/only-one';
/** The summary line as it may be: a time in ms (or <1ms), or seconds with a rate. */
const SUMMARY = /^restored 1 key into http:\/\/127\.0\.0\.1:\d+ \(v3\) in (<1ms|\d+ms|\d+(\.\d)?s \(\d+ keys\/s\))$/;
const FIELDS = ['dryRun', 'durationMs', 'id', 'keysPerSecond', 'resources', 'target', 'totals', 'unmatchedFilters', 'written'];

const env = () => ({ RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: join(work, 'store'), RS_KUBE_PREFIXES: '/registry/configmaps' });
const backup = async (strategy: string) => {
  const res = await runCli(['backup', '--json'], { ...env(), RS_BACKUP_STRATEGY: strategy });
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(res.stdout) as Manifest;
};

beforeAll(async () => {
  etcd = await startEtcd();
  work = await mkdtemp(join(tmpdir(), 'rs-tiny-restore-'));
  await etcd.ctl(['put', KEY, 'v']);
  raw = await backup('raw');
  snapshot = await backup('snapshot');
});
afterAll(async () => {
  await etcd?.stop();
  await rm(work, { recursive: true, force: true });
});

describe.each([
  ['a key dump', () => [raw.id]],
  ['restore --keys of a snapshot', () => [snapshot.id, '--keys']],
])('one key restored from %s', (_, args) => {
  it('says how long it took without a rate from a rounded-away time', async () => {
    await etcd.ctl(['del', KEY]);
    const res = await runCli(['restore', ...args()], env());
    expect(res.code, res.stderr).toBe(0);
    const line = res.stdout.trim().split('\n').at(-1)!;
    expect(line).toMatch(SUMMARY);
    expect(line).not.toMatch(/0\.0 s|\(0 keys\/s\)/);
  });

  it('--json: the same fields, keysPerSecond a finite number', async () => {
    await etcd.ctl(['del', KEY]);
    const res = await runCli(['restore', ...args(), '--json'], env());
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).not.toMatch(/Infinity|NaN|null/);
    const report = JSON.parse(res.stdout) as Record<string, unknown>;
    expect(Object.keys(report).sort()).toEqual(FIELDS);
    expect(report.written).toBe(1);
    expect(Number.isFinite(report.keysPerSecond)).toBe(true);
    expect(report.keysPerSecond).toBeGreaterThan(0);
  });
});
