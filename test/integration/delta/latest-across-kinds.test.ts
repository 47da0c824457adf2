import { expect, it } from 'vitest';
import { runCli } from '../../helpers/cli.js';
import { historyOf, revisionOf, storeSegmentOf } from '../../helpers/delta-chain.js';
import { deltaFixture } from '../../helpers/delta-fixture.js';

const f = deltaFixture('rs-latest-kinds-');

it('restore latest --to latest is refused when a chain of the other kind recorded changes beyond the state it would restore', async () => {
  // A nightly `raw` CronJob beside a `run` that records changes on snapshots: the key dump is the newest full backup
  // plain `restore` reads, and the snapshot's chain holds every change since. Before: `restore latest --to latest`
  // restored the key dump's state (0 segments, "the state at revision R (--to latest)"), every recorded change lost
  // without a word.
  const { env } = f.store('store');
  for (let i = 0; i < 5; i++) await f.etcd.ctl(['put', `/registry/configmaps/default/cm-${i}`, `v${i}`]);
  await f.backup(env, 'raw');
  const snapshot = await f.backup(env, 'snapshot');
  const from = snapshot.etcd!.revision + 1;
  for (let i = 0; i < 3; i++) await f.etcd.ctl(['put', `/registry/configmaps/default/after-${i}`, `a${i}`]);
  const to = await revisionOf(f.etcd);
  const events = await historyOf(f.etcd.endpoint, from, to, () => Date.now());
  await storeSegmentOf(env, { base: snapshot, fromRevision: from, toRevision: to, events });

  const refused = await runCli(['restore', 'latest', '--to', 'latest', '--dry-run'], env);
  expect(refused.code, refused.stdout).toBe(1);
  expect(refused.stderr).toContain(`--to latest would restore revision ${snapshot.etcd!.revision} from key dump`);
  expect(refused.stderr).toContain(`but snapshot ${snapshot.id} and the changes recorded after it reach revision ${to}: restore its keys with --keys`);
  expect(refused.stderr).not.toMatch(/\n\s+at /);

  // The operator's ways on: the snapshot chain with --keys, or the key dump's state asked for by name.
  const keys = await runCli(['restore', 'latest', '--to', 'latest', '--keys', '--dry-run'], env);
  expect(keys.code, keys.stderr).toBe(0);
  expect(keys.stdout).toContain(`dry run of backup ${snapshot.id} (revision ${snapshot.etcd!.revision}) and 1 segment with 3 changes: the state at revision ${to}`);
  const narrowed = await runCli(['restore', 'latest', '--to', 'latest', '--strategy', 'raw', '--dry-run'], env);
  expect(narrowed.code, narrowed.stderr).toBe(0);
  const older = await runCli(['restore', 'latest', '--to', String(snapshot.etcd!.revision), '--dry-run'], env);
  expect(older.code, older.stderr).toBe(0);
}, 60_000);

it('restore latest --to in a store without a full backup of the form\'s kind names that kind, not "no full backup"', async () => {
  // Before: "the store holds no full backup to restore from", beside the snapshot or key dump `list` shows, and for
  // --data-dir beside a raw dump without a word on what --data-dir reads.
  const { env: dumps } = f.store('dumps-only');
  await f.etcd.ctl(['put', '/registry/configmaps/default/only', 'v']);
  await f.backup(dumps, 'raw');
  const dataDir = await runCli(['restore', 'latest', '--to', 'latest', '--data-dir', `${f.work}/never`], dumps);
  expect(dataDir.code, dataDir.stdout).toBe(1);
  expect(dataDir.stderr).toContain('the store holds no snapshot to restore from: `restore --data-dir`, `--snapshot-file` and `--keys` restore snapshots');
  expect(dataDir.stderr).not.toContain('no full backup');

  const { env: snapshots } = f.store('snapshots-only');
  const snapshot = await f.backup(snapshots, 'snapshot');
  const keyForm = await runCli(['restore', 'latest', '--to', String(snapshot.etcd!.revision), '--dry-run'], snapshots);
  expect(keyForm.code, keyForm.stdout).toBe(1);
  expect(keyForm.stderr).toContain('the store holds no key dump to restore from (a restore without --keys or --data-dir writes key dumps into the running etcd)');
  expect(keyForm.stderr).toContain('a snapshot chain covers it: restore its keys with --keys, or into a new data dir with --data-dir');
  expect(keyForm.stderr).not.toContain('no full backup');
}, 60_000);

it('restore latest --to of a cluster without backups names the clusters of the store that have some, as restore latest does', async () => {
  // A mistyped RS_CLUSTER_NAME in a recovery: before, "the store holds no full backup to restore from", where restore
  // latest without --to names the clusters that hold backups.
  const { env } = f.store('typo');
  await f.backup(env, 'snapshot');
  const typo = { ...env, RS_CLUSTER_NAME: 'defualt' };
  for (const form of [['--dry-run'], ['--keys', '--dry-run'], ['--data-dir', `${f.work}/never-typo`]]) {
    const res = await runCli(['restore', 'latest', '--to', 'latest', ...form], typo);
    expect(res.code, res.stdout).toBe(1);
    expect(res.stderr).toMatch(/no backups of cluster "defualt" in .*typo.*holds the backups of cluster default/);
  }
}, 60_000);

it('restore latest --to latest is not refused when the other kind reaches the same revision, no further', async () => {
  // The refusal is for lost changes only: a snapshot at the key dump's own revision loses none.
  const { env } = f.store('same');
  await f.etcd.ctl(['put', '/registry/configmaps/default/same', 'v']);
  const raw = await f.backup(env, 'raw');
  const snapshot = await f.backup(env, 'snapshot');
  expect(snapshot.etcd!.revision).toBe(raw.etcd!.revision);
  const res = await runCli(['restore', 'latest', '--to', 'latest', '--dry-run'], env);
  expect(res.code, res.stderr).toBe(0);
  expect(res.stderr).not.toContain('--to latest would restore');
}, 60_000);
