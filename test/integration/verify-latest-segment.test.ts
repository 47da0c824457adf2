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

// The operator's mixed folder: the hourly filter:secrets,configmaps CronJob dumps after the segment above, so
// `verify latest --chain` checked that dump's chain of no segment ("0 segments") and said ok, naming neither that
// `latest` is a filter dump nor the chain `run` records onto.
it('verify latest --chain, when latest is a filter: dump beside the chain being recorded, names what it checked and that chain', async () => {
  const res = await runInProcess(['backup', '--json', '--strategy', 'filter:secrets,configmaps'], env());
  expect(res.code, res.stderr).toBe(0);
  const filter = JSON.parse(res.stdout) as Manifest;
  const note =
    `"latest" is key dump ${filter.id} (filter:secrets,configmaps, taken ${filter.createdAt}), which holds only the resources its filter selected: its chain of 0 segments is what was checked; ` +
    `the chain being recorded is that of ${base.id}, whose newest segment ${segment.id} records changes up to revision ${(segment as Manifest & { toRevision: number }).toRevision}: "reshifter verify ${base.id} --chain" checks it`;
  const chain = await runInProcess(['verify', 'latest', '--chain'], env());
  expect(chain.code, chain.stderr).toBe(0);
  expect(chain.stdout).toContain(`ok  \t${filter.id}\tfull backup`);
  expect(chain.stdout.trim().split('\n').at(-1)).toBe(`note: ${note}`);
  const json = await runInProcess(['verify', 'latest', '--chain', '--json'], env());
  expect(JSON.parse(json.stdout)).toMatchObject({ base: filter.id, note });
  // Named by id or by series, or the chain being recorded itself: no note.
  for (const args of [[filter.id], ['latest', '--strategy', 'filter:secrets,configmaps'], [base.id]]) {
    const other = await runInProcess(['verify', ...args, '--chain'], env());
    expect(other.code, other.stderr).toBe(0);
    expect(other.stdout).not.toContain('note:');
  }
});
