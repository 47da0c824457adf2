import { copyFile, mkdtemp, open, readdir, rm, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import { historyOf, revisionOf, storeSegmentOf, valuesAt } from '../helpers/delta-chain.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { runInProcess } from '../helpers/in-process.js';
import { keyspace, values } from '../helpers/keyspace.js';

/**
 * Chains as `run` records them: each full backup takes over the recording, so the older chain ends at exactly the
 * newer base's revision and the newer one's segments go on from there. When the newest base lost half its artifact,
 * `restore latest --to ...` named the older base as restoring "the same point", but `restore <older> --to <rev>`
 * then failed ("no chain of backups covers revision ...: ... beyond what was recorded"): with an id, only that
 * backup's own segments were read, not the newer chain's that continue it. They are now, and the refusal of
 * `--to latest` gives the revision to ask for with the id.
 */
let etcd: TestEtcd;
let dir: string;
let older: Manifest;
let newer: Manifest;
let top: number;
const env = () => ({ RS_BACKUP_DIR: dir, RS_CLUSTER_NAME: 'bridged', RS_ETCD_ENDPOINTS: etcd.endpoint });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rs-pitr-bridged-'));
  etcd = await startEtcd();
  const backup = async (): Promise<Manifest> => {
    const res = await runInProcess(['backup', '--json'], env());
    expect(res.code, res.stderr).toBe(0);
    return JSON.parse(res.stdout) as Manifest;
  };
  for (let i = 0; i < 3; i++) await etcd.ctl(['put', `/registry/configmaps/default/a-${i}`, `a ${i}`]);
  older = await backup();
  for (let i = 0; i < 3; i++) await etcd.ctl(['put', `/registry/configmaps/default/b-${i}`, `b ${i}`]);
  await etcd.ctl(['del', '/registry/configmaps/default/a-0']);
  newer = await backup();
  for (let i = 0; i < 3; i++) await etcd.ctl(['put', `/registry/configmaps/default/c-${i}`, `c ${i}`]);
  await etcd.ctl(['put', '/registry/configmaps/default/b-1', 'b 1 changed']);
  top = await revisionOf(etcd);
  const events = await historyOf(etcd.endpoint, older.etcd!.revision + 1, top, () => Date.now());
  await storeSegmentOf(env(), { base: older, fromRevision: older.etcd!.revision + 1, toRevision: newer.etcd!.revision, events });
  await storeSegmentOf(env(), { base: newer, fromRevision: newer.etcd!.revision + 1, toRevision: top, events });
  await copyFile(join(dir, 'bridged', newer.artifact), join(dir, 'newer.bak'));
  await truncate(join(dir, 'bridged', newer.artifact), 100);
}, 60_000);

afterAll(async () => {
  await etcd?.stop();
  await rm(dir, { recursive: true, force: true });
});

it('restore latest --to latest names the older base with the revision to give, and that restore holds the newest state', async () => {
  const refused = await runInProcess(['restore', 'latest', '--to', 'latest', '--data-dir', join(dir, 'refused')], env());
  expect(refused.code, refused.stderr).toBe(1);
  expect(refused.stderr).toContain(`so it restores nothing; ${older.id} (snapshot, taken ${older.createdAt}) restores the same point: give its id instead of "latest" and --to ${top} for --to latest`);
  const dataDir = join(dir, 'restored');
  const res = await runInProcess(['restore', older.id, '--to', String(top), '--data-dir', dataDir], env());
  expect(res.code, res.stderr).toBe(0);
  expect(res.stdout).toContain(`restored backup ${older.id} (revision ${older.etcd!.revision}) and 2 segments with `);
  expect(res.stdout).toContain(`the state at revision ${top} (--to ${top}`);
  const restored = await startEtcd({ dataDir });
  try {
    expect(values(await keyspace(restored))).toEqual(await valuesAt(etcd, top));
  } finally {
    await restored.stop();
  }
}, 60_000);

it('a revision inside the newer chain is refused the same way and restores from the older base by id', async () => {
  const rev = top - 1;
  const refused = await runInProcess(['restore', 'latest', '--to', String(rev), '--keys', '--dry-run'], { ...env(), RS_ETCD_ENDPOINTS: 'http://127.0.0.1:9' });
  expect(refused.code, refused.stderr).toBe(1);
  expect(refused.stderr).toContain(`${older.id} (snapshot, taken ${older.createdAt}) restores the same point: give its id instead of "latest"`);
  const dataDir = join(dir, `restored-${rev}`);
  const res = await runInProcess(['restore', older.id, '--to', String(rev), '--data-dir', dataDir], env());
  expect(res.code, res.stderr).toBe(0);
  expect(res.stdout).toContain(`the state at revision ${rev} (--to ${rev}`);
}, 60_000);

it('a newest base damaged at rest (its size right, its sha256 not): restore latest --to latest names the older base and the command', async () => {
  // Before: only "sha256: ... refusing to use a corrupt backup", found once downloaded.
  await copyFile(join(dir, 'newer.bak'), join(dir, 'bridged', newer.artifact));
  const file = await open(join(dir, 'bridged', newer.artifact), 'r+');
  await file.write(Buffer.from('XXXXXXXX'), 0, 8, 100);
  await file.close();
  const dataDir = join(dir, 'damaged');
  const member = ['--name', 'm1', '--initial-cluster', 'm1=http://127.0.0.1:2380', '--initial-advertise-peer-urls', 'http://127.0.0.1:2380'];
  const res = await runInProcess(['restore', 'latest', '--to', 'latest', '--data-dir', dataDir, ...member], env());
  expect(res.code, res.stderr).toBe(1);
  expect(res.stderr).toContain(`sha256: backup ${newer.id}'s stored bytes hash to `);
  const command = `reshifter restore ${older.id} --to ${top} --data-dir ${dataDir} ${member.join(' ')}`;
  expect(res.stderr).toContain(
    `"latest" starts from backup ${newer.id}, which restores nothing, and nothing was written; ${older.id} (snapshot, taken ${older.createdAt}) restores the same point (revision ${top}): restore it with "${command}"`,
  );
  expect(await readdir(dir)).not.toContain('damaged');
  const again = await runInProcess(command.split(' ').slice(1), env());
  expect(again.code, again.stderr).toBe(0);
  expect(again.stdout).toContain(`the state at revision ${top} (--to ${top}`);
}, 60_000);
