import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import { historyOf, revisionOf, storeSegmentOf } from '../helpers/delta-chain.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { runCli } from '../helpers/cli.js';
import { runInProcess } from '../helpers/in-process.js';
import { startS3, type TestS3 } from '../helpers/s3.js';

/**
 * Disaster recovery as the README's steps give it, `restore latest --data-dir ...`, while `run` recorded changes
 * after the newest snapshot (RS_DELTA_INTERVAL): the data dir holds the snapshot's state, older than what the store
 * holds. Before, nothing said so; the restore says it, with the command that replays the changes.
 */
let etcd: TestEtcd;
let s3: TestS3;
let work: string;
let base: Manifest;
let top: number;
const env = () => ({ ...s3.env, RS_CLUSTER_NAME: 'later', RS_ETCD_ENDPOINTS: etcd.endpoint });
const member = ['--name', 'm1', '--initial-cluster', 'm1=http://127.0.0.1:2380', '--initial-advertise-peer-urls', 'http://127.0.0.1:2380'];

beforeAll(async () => {
  [etcd, s3] = await Promise.all([startEtcd(), startS3()]);
  work = await mkdtemp(join(tmpdir(), 'rs-later-changes-'));
  for (let i = 0; i < 3; i++) await etcd.ctl(['put', `/registry/configmaps/default/a-${i}`, `a ${i}`]);
  const res = await runInProcess(['backup', '--json'], env());
  expect(res.code, res.stderr).toBe(0);
  base = JSON.parse(res.stdout) as Manifest;
  for (let i = 0; i < 3; i++) await etcd.ctl(['put', `/registry/configmaps/default/b-${i}`, `b ${i}`]);
  top = await revisionOf(etcd);
  const events = await historyOf(etcd.endpoint, base.etcd!.revision + 1, top, () => Date.now());
  await storeSegmentOf(env(), { base, fromRevision: base.etcd!.revision + 1, toRevision: top, events });
}, 60_000);

afterAll(async () => {
  await Promise.all([etcd?.stop(), s3?.stop(), work && rm(work, { recursive: true, force: true })]);
});

it('restore latest --data-dir says the changes recorded after the snapshot are not in it, and the command that restores them too', async () => {
  const dataDir = join(work, 'plain');
  // The CLI itself, for its log on stderr.
  const res = await runCli(['restore', 'latest', '--data-dir', dataDir, ...member], { ...env(), LOG_LEVEL: 'warn' });
  expect(res.code, res.stderr).toBe(0);
  const lines = res.stdout.split('\n');
  expect(lines[0]).toBe(`restored snapshot ${base.id} (revision ${base.etcd!.revision}) into ${dataDir} with ${lines[0]!.split(' with ')[1]}`);
  const command = `reshifter restore latest --to latest --data-dir ${dataDir} ${member.join(' ')}`;
  expect(lines[1]).toMatch(new RegExp(`^note: continuous backups recorded changes after snapshot ${base.id}, up to revision ${top} \\(the last seen at [^)]+\\), which this restore does not hold: `));
  expect(lines[1]).toContain(`"${command}" (into a new --data-dir) restores them too`);
  expect(res.stderr).toContain('changes were recorded after this snapshot: the restore holds the state it was taken at');
  // --json carries it too.
  const json = await runInProcess(['restore', 'latest', '--data-dir', join(work, 'json'), ...member, '--json'], env());
  expect(json.code, json.stderr).toBe(0);
  expect((JSON.parse(json.stdout) as { note?: string }).note).toContain(`up to revision ${top}`);
  // The command it names, into a new directory, restores them.
  const replayDir = join(work, 'replayed');
  const replay = await runInProcess(command.replace(dataDir, replayDir).split(' ').slice(1), env());
  expect(replay.code, replay.stderr).toBe(0);
  expect(replay.stdout).toContain(`the state at revision ${top} (--to latest`);
  expect(replay.stdout).not.toContain('note: continuous backups');
});

it('restore latest --snapshot-file (k3s) says the same of the file, and how to restore them into a data dir', async () => {
  const file = join(work, 'k3s.db');
  const res = await runInProcess(['restore', 'latest', '--snapshot-file', file], env());
  expect(res.code, res.stderr).toBe(0);
  const lines = res.stdout.split('\n');
  expect(lines[0]).toContain(`wrote snapshot ${base.id} (revision ${base.etcd!.revision}) to ${file} `);
  expect(lines[1]).toMatch(new RegExp(`^note: continuous backups recorded changes after snapshot ${base.id}, up to revision ${top} \\(the last seen at [^)]+\\), which this file does not hold: `));
  expect(lines[1]).toContain('(--to does not go with --snapshot-file); "reshifter restore latest --to latest --data-dir DIR" restores them into a data directory');
  expect(lines[2]).toMatch(/^next: k3s server --cluster-reset/);
});

it('no note when the snapshot has no changes recorded after it', async () => {
  const res = await runInProcess(['backup', '--json'], env());
  expect(res.code, res.stderr).toBe(0);
  const restored = await runInProcess(['restore', 'latest', '--data-dir', join(work, 'newest'), ...member], env());
  expect(restored.code, restored.stderr).toBe(0);
  expect(restored.stdout).not.toContain('note:');
  const file = await runInProcess(['restore', 'latest', '--snapshot-file', join(work, 'newest.db')], env());
  expect(file.code, file.stderr).toBe(0);
  expect(file.stdout).not.toContain('note:');
});
