import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { readdir, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeyRestoreReport } from '../../src/ops/restore-keys.js';
import { runCli } from '../helpers/cli.js';
import type { TestEtcd } from '../helpers/etcd.js';
import { etcdWithSnapshotFile, type SnapshotFileSetup } from '../helpers/snapshot-file.js';
import { parseGetJson, type CtlKeyValue } from '../unit/snapshot/etcdctl-json.js';

/**
 * `restore <snapshot-file> --keys`: an operator of k3s or of a kubeadm etcd has the snapshot files etcd's own tools
 * wrote (`etcdctl snapshot save`, `k3s etcd-snapshot save`), not reshifter backups. etcd's tools restore such a file
 * only whole, into a new data directory; reshifter writes its live keys, filtered, into the running etcd: one deleted
 * namespace back from last night's file. No store is configured or touched.
 */
let setup: SnapshotFileSetup;
let etcd: TestEtcd;
let work: string;
let file: string;
/** team-1's keys (and its Namespace) before they were deleted. */
let team1: CtlKeyValue[];

const inTeam1 = (key: Buffer) => {
  const k = key.toString();
  return k === '/registry/namespaces/team-1' || k.split('/').slice(2).includes('team-1');
};
const everything = async () => parseGetJson(await etcd.ctl(['get', '', '--from-key', '-w', 'json']));
/** Only etcd and the work area: no RS_BACKUP_DIR, no S3; run in `work`, where a default ./backups would appear. */
const env = (extra: Record<string, string> = {}) => ({ RS_ETCD_ENDPOINTS: etcd.endpoint, RS_TMP_DIR: setup.tmp, ...extra });
const restore = (args: string[], extra: Record<string, string> = {}) => runCli(['restore', ...args], env(extra), { cwd: work });

beforeAll(async () => {
  setup = await etcdWithSnapshotFile('snapfile', { namespaces: 3, podsPerNamespace: 8, edgeCases: true });
  ({ etcd, work, file } = setup);
  team1 = (await everything()).kvs.filter((kv) => inTeam1(kv.key));
  expect(team1.length).toBeGreaterThan(10);
  for (const kv of team1) await etcd.ctl(['del', kv.key.toString()]);
  await etcd.ctl(['put', '/registry/configmaps/team-2/after-the-snapshot', 'keep me']);
});

afterAll(async () => {
  await setup?.stop();
});

describe('restore <snapshot-file> --keys', () => {
  it('--dry-run plans the namespace back and writes nothing', async () => {
    const before = await everything();
    const res = await restore([file, '--keys', '--dry-run', '--json'], { RS_INCLUDE_NAMESPACES: 'team-1' });
    expect(res.code, res.stderr).toBe(0);
    const report = JSON.parse(res.stdout) as KeyRestoreReport;
    expect(report).toMatchObject({ file, dryRun: true, written: 0 });
    expect(report.totals.create).toBe(team1.length);
    expect((await everything()).revision).toBe(before.revision);
  });

  it('brings back the deleted namespace exactly (a gzip copy of the file too), leaves the rest, touches no store', async () => {
    const gz = `${file}.gz`;
    await pipeline(createReadStream(file), createGzip(), createWriteStream(gz));
    const before = await everything();
    const res = await restore([gz, '--keys'], { RS_INCLUDE_NAMESPACES: 'team-1' });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(new RegExp(`^snapshot file ${gz}\\n`));
    expect(res.stdout).toMatch(new RegExp(`restored ${team1.length} keys into`));
    const after = await everything();
    const pairs = (kvs: CtlKeyValue[]) => kvs.map((kv) => [kv.key.toString('base64'), kv.value.toString('base64')]);
    expect(pairs(after.kvs.filter((kv) => inTeam1(kv.key)))).toEqual(pairs(team1));
    const others = (kvs: CtlKeyValue[]) => kvs.filter((kv) => !inTeam1(kv.key)).map((kv) => [kv.key.toString('base64'), kv.modRevision]);
    expect(others(after.kvs)).toEqual(others(before.kvs));
    expect(existsSync(join(work, 'backups'))).toBe(false);
    // The decoded copy in the work area is gone.
    expect(await readdir(setup.tmp)).toEqual([]);
  });

  it('a filter that matches nothing names the file and how to list its keys', async () => {
    const res = await restore([file, '--keys'], { RS_INCLUDE_NAMESPACES: 'tema-1' });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(new RegExp(`matches nothing ${file} holds .*"reshifter inspect ${file} --keys" lists them\\); nothing was written`));
  });

  it('without --keys, or with a backup-only option: exit 2, saying what a file can do', async () => {
    const plain = await restore([file]);
    expect(plain.code).toBe(2);
    expect(plain.stderr).toContain(`"reshifter restore ${file} --keys" writes the live keys of a snapshot file`);
    // The tool installed here: etcdutl, or etcdctl 3.4/3.5 (Debian's etcd has no etcdutl).
    expect(plain.stderr).toMatch(new RegExp(`"(etcdutl|etcdctl) snapshot restore ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} --data-dir DIR"`));
    const dataDir = await restore([file, '--data-dir', join(work, 'member')]);
    expect(dataDir.code).toBe(2);
    expect(dataDir.stderr).toContain(`--data-dir ${join(work, 'member')}"`);
    expect(existsSync(join(work, 'member'))).toBe(false);
    const to = await restore([file, '--keys', '--to', 'latest']);
    expect(to.code).toBe(2);
    expect(to.stderr).toMatch(/--to cannot be combined with a snapshot file/);
  });

  it('a file whose data no longer matches etcd\'s sha256 trailer is refused, nothing written; stats reads it, warning', async () => {
    const changed = join(work, 'changed.db');
    const bytes = await readFile(file);
    // One byte of a value in the last data page: the file still parses, only the trailer tells.
    const at = bytes.indexOf(Buffer.from(team1[0]!.value.subarray(0, 16)));
    expect(at).toBeGreaterThan(0);
    bytes[at + 8] ^= 0x01;
    await writeFile(changed, bytes);
    const before = await everything();
    const res = await restore([changed, '--keys'], { RS_INCLUDE_NAMESPACES: 'team-1' });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`${changed}: etcd's sha256 trailer does not match the data (the file was changed or damaged); it was not restored`);
    expect((await everything()).revision).toBe(before.revision);
    const stats = await runCli(['stats', changed], env(), { cwd: work });
    expect(stats.code, stats.stderr).toBe(0);
    expect(stats.stderr).toContain('the numbers are of the data as it is');
  });

  it('a damaged file is refused before anything is written', async () => {
    const cut = join(work, 'cut.db');
    await writeFile(cut, await readFile(file));
    await truncate(cut, Math.floor((await stat(cut)).size / 2));
    const before = await everything();
    const res = await restore([cut, '--keys'], { RS_INCLUDE_NAMESPACES: 'team-1' });
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(new RegExp(`${cut}`));
    expect(res.stderr).not.toMatch(/\n\s+at |this is a bug/);
    expect((await everything()).revision).toBe(before.revision);
  });
});

describe('stats <snapshot-file>', () => {
  it('counts the file\'s live keys per resource and namespace, offline, with no store', async () => {
    const res = await runCli(['stats', file, '--json'], env({ RS_INCLUDE_NAMESPACES: 'team-1' }), { cwd: work });
    expect(res.code, res.stderr).toBe(0);
    const out = JSON.parse(res.stdout) as { source: { kind: string; path: string; revision: number }; keys: number };
    expect(out.source).toMatchObject({ kind: 'file', path: file });
    // team-1's keys and its Namespace object, as the restore above wrote them.
    expect(out.keys).toBe(team1.length);
    const text = await runCli(['stats', file], env(), { cwd: work });
    expect(text.stdout).toMatch(new RegExp(`^source: +file ${file}, API v3, revision ${out.source.revision}\n`));
    expect(existsSync(join(work, 'backups'))).toBe(false);
  });
});

/**
 * A k3s operator's first try: RS_BACKUP_DIR (--backup-dir) given as the folder k3s keeps its snapshots in. Before, it
 * was said to hold "no cluster's backups, only the folders tmp" (or "no folder of a cluster"): nothing about the
 * snapshot files there, which reshifter reads by path.
 */
describe('a folder of snapshot files given as the store', () => {
  it('list and restore latest say it holds snapshot files and how to read one; the command named works', async () => {
    const list = await runCli(['list', '--backup-dir', work], env(), { cwd: work });
    expect(list.code, list.stderr).toBe(0);
    const said = `${list.stdout}${list.stderr}`;
    expect(said).toMatch(new RegExp(`${work} holds etcd snapshot files \\(.*etcd-snapshot-server-1-1764990000.*\\), not reshifter backups: inspect, verify, stats, diff, restore --keys and restore --snapshot-file OUT take such a file by its path`));
    const named = /\("reshifter verify (.+?)"\)/.exec(said)?.[1];
    expect(named, said).toBeDefined();
    const verify = await runCli(['verify', named!], env(), { cwd: work });
    expect(verify.code, verify.stderr).toBe(0);
    const restoreLatest = await restore(['latest', '--keys', '--dry-run', '--backup-dir', work]);
    expect(restoreLatest.code).toBe(1);
    expect(restoreLatest.stderr).toContain(`${work} holds etcd snapshot files (`);
    expect(existsSync(join(work, 'k3s'))).toBe(false);
  });

  // Before: "no backups of any cluster in DIR" and nothing more, where plain `list` named the snapshot files.
  it('list --all-clusters says so too, in the words of list', async () => {
    const [list, all] = await Promise.all([
      runCli(['list', '--backup-dir', work], env(), { cwd: work }),
      runCli(['list', '--all-clusters', '--backup-dir', work], env(), { cwd: work }),
    ]);
    expect(all.code, all.stderr).toBe(0);
    const hint = list.stdout.split('\n').find((l) => l.includes('holds etcd snapshot files'));
    expect(hint, list.stdout).toBeDefined();
    expect(all.stdout.split('\n')).toEqual([`no backups of any cluster in ${work}`, hint, '']);
  });
});
