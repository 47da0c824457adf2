import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import { runCli } from '../helpers/cli.js';
import { historyOf, revisionOf, storeSegmentOf } from '../helpers/delta-chain.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { startS3, type TestS3 } from '../helpers/s3.js';

let etcd: TestEtcd;
let s3: TestS3;
let work: string;
let env: Record<string, string>;
let base: Manifest;
let to: number;
beforeAll(async () => {
  [etcd, s3] = await Promise.all([startEtcd(), startS3()]);
  work = await mkdtemp(join(tmpdir(), 'rs-phase-lines-'));
  env = { RS_ETCD_ENDPOINTS: etcd.endpoint, ...s3.env };
  for (let i = 0; i < 5; i++) await etcd.ctl(['put', `/registry/configmaps/default/cm-${i}`, `v${i}`]);
  const res = await runCli(['backup', '--json', '--strategy', 'snapshot'], env);
  expect(res.code, res.stderr).toBe(0);
  base = JSON.parse(res.stdout.trim().split('\n').at(-1)!) as Manifest;
  const from = base.etcd!.revision + 1;
  for (let i = 0; i < 3; i++) await etcd.ctl(['put', `/registry/configmaps/default/after-${i}`, `a${i}`]);
  to = await revisionOf(etcd);
  await storeSegmentOf(env, { base, fromRevision: from, toRevision: to, events: await historyOf(etcd.endpoint, from, to, () => Date.now()) });
}, 60_000);
afterAll(async () => {
  await Promise.all([etcd?.stop(), s3?.stop()]);
  await rm(work, { recursive: true, force: true });
});

/** The messages of the info lines of a command's log, in order. */
const messages = (stderr: string) =>
  stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { level: string; msg: string })
    .filter((l) => l.level === 'info')
    .map((l) => l.msg);

// Before: `stats <id>` logged nothing before its output, and a `restore --to` from S3 of a large snapshot was silent
// for seconds at a time (download and decode, the restore of the base, the temporary etcd's snapshot, the final
// restore), each phase shorter than the 5 s progress interval. Each phase now says that it starts when it starts.
it('stats of a stored backup says which backup it reads, and from where, before it reads it', async () => {
  const res = await runCli(['stats', base.id], env);
  expect(res.code, res.stderr).toBe(0);
  const reading = `reading backup ${base.id} (snapshot, revision ${base.etcd!.revision}, `;
  expect(messages(res.stderr).filter((m) => m.startsWith(reading))).toHaveLength(1);
  expect(messages(res.stderr)[0]).toMatch(new RegExp(`^${reading.replace(/[()]/g, '\\$&')}.* from s3://${s3.bucket}/$`));
}, 60_000);

it('restore --to --data-dir says each phase as it starts', async () => {
  const res = await runCli(['restore', 'latest', '--to', 'latest', '--data-dir', join(work, 'restored')], env);
  expect(res.code, res.stderr).toBe(0);
  const phases = messages(res.stderr).filter((m) => m !== 'progress');
  expect(phases).toEqual([
    expect.stringMatching(new RegExp(`^reading backup ${base.id} \\(snapshot, revision ${base.etcd!.revision}, .*\\) from s3://`)),
    `restoring snapshot ${base.id} into a temporary data directory, to replay the recorded changes onto`,
    expect.stringMatching(/^reading 1 segment of recorded changes \(.*\) from s3:\/\//),
    'replaying recorded changes',
    'starting a temporary etcd on the restored base',
    'recorded changes replayed',
    'taking the snapshot of the temporary etcd',
    `restoring the state at revision ${to} into ${join(work, 'restored')}`,
    'restored to a point in time',
  ]);
}, 120_000);

it('restore --to --keys says it reads the backup and the segments before the restore starts', async () => {
  const res = await runCli(['restore', 'latest', '--to', 'latest', '--keys', '--dry-run'], env);
  expect(res.code, res.stderr).toBe(0);
  const phases = messages(res.stderr).filter((m) => m !== 'progress');
  const at = (re: RegExp) => phases.findIndex((m) => re.test(m));
  expect(at(/^reading backup /)).toBeGreaterThanOrEqual(0);
  expect(at(/^reading backup /)).toBeLessThan(at(/^reading 1 segment of recorded changes/));
  expect(at(/^reading 1 segment of recorded changes/)).toBeLessThan(at(/^restore started$/));
}, 60_000);
