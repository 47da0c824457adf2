import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { runCli } from '../helpers/cli.js';
import { runInProcess } from '../helpers/in-process.js';

/**
 * `latest` with the newest backup's manifest unreadable (cut short, written by a newer version): it used to name the
 * newest backup it could read, without a word, so `restore latest` in a recovery brought back older state than the
 * operator believed, and a scheduled `verify` passed. It is refused, naming the manifest and the id to give instead.
 */
let etcd: TestEtcd;
let store: string;
const env = () => ({ RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: store });
const ids: string[] = [];

beforeAll(async () => {
  etcd = await startEtcd();
  store = await mkdtemp(join(tmpdir(), 'rs-latest-unreadable-'));
  for (const value of ['first', 'second', 'third']) {
    await etcd.ctl(['put', '/registry/configmaps/default/a', value]);
    const made = await runInProcess(['backup', '--json'], env());
    expect(made.code, made.stderr).toBe(0);
    ids.push((JSON.parse(made.stdout) as { id: string }).id);
  }
});
afterAll(async () => {
  await etcd?.stop();
  await rm(store, { recursive: true, force: true });
});

const manifest = (id: string) => join(store, 'default', `${id}.manifest.json`);

it('an older manifest that cannot be read does not stand in the way of latest', async () => {
  await writeFile(manifest(ids[0]!), '{"cut short');
  const res = await runInProcess(['verify', 'latest', '--json'], env());
  expect(res.code, res.stderr).toBe(0);
  expect(JSON.parse(res.stdout)).toMatchObject({ id: ids[2] });
  // The key modes of inspect say which backup `latest` is (its listing alone does not).
  const keys = await runCli(['inspect', 'latest', '--keys'], env());
  expect(keys.code, keys.stderr).toBe(0);
  expect(keys.stdout).toContain('/registry/configmaps/default/a');
  expect(keys.stderr).toContain(`"msg":"reading backup ${ids[2]} (snapshot, revision `);
});

it("the newest backup's manifest cannot be read: latest is refused, naming it and the id to give instead", async () => {
  await writeFile(manifest(ids[2]!), '{"cut short');
  for (const args of [['verify'], ['inspect', 'latest'], ['restore', 'latest', '--dry-run', '--keys']]) {
    const res = await runInProcess(args, env());
    expect(res.code, `${args.join(' ')}: ${res.stderr}`).toBe(1);
    expect(res.stderr).toContain(
      `"latest" would be backup ${ids[1]}, but the manifest of a newer backup cannot be read: default/${ids[2]}.manifest.json (`,
    );
    expect(res.stderr).toContain(`Give the id ${ids[1]} instead of "latest" to use it`);
  }
  const named = await runInProcess(['verify', ids[1]!], env());
  expect(named.code, named.stderr).toBe(0);
});

it('no manifest can be read: "no backups" says that some exist but cannot be read', async () => {
  await writeFile(manifest(ids[1]!), 'not json');
  const res = await runInProcess(['verify'], env());
  expect(res.code).toBe(1);
  expect(res.stderr).toMatch(/no backups of cluster "default" in .*; the manifest of 3 backups cannot be read: default\/.*\.manifest\.json \(/);
});

it('delete of a backup whose manifest is of a newer format: refused by name and why (it said "no backup"), nothing deleted, the others not either', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rs-delete-newer-'));
  try {
    const at = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: dir };
    const made: Array<{ id: string; artifact: string }> = [];
    for (let i = 0; i < 3; i++) made.push(JSON.parse((await runInProcess(['backup', '--json'], at)).stdout) as { id: string; artifact: string });
    const newer = made[1]!;
    const file = join(dir, 'default', `${newer.id}.manifest.json`);
    // As a newer build would write it: tool.version is still package.json's 0.1.0 (never bumped), the commit its own.
    const written = JSON.parse(await readFile(file, 'utf8')) as { tool: Record<string, string> };
    await writeFile(file, JSON.stringify({ ...written, format: 2, tool: { ...written.tool, version: '0.1.0', commit: '0123456789ab' } }));
    const before = (await readdir(join(dir, 'default'))).sort();
    for (const ids of [[newer.id], [made[0]!.id, newer.id]]) {
      const res = await runInProcess(['delete', ...ids], at);
      expect(res.code, res.stderr).toBe(1);
      expect(res.stderr).toContain(
        `backup ${newer.id} cannot be deleted: its manifest default/${newer.id}.manifest.json cannot be read (manifest: default/${newer.id}.manifest.json: ` +
          'field "format" is 2; this build of reshifter reads manifest format 1: written by a newer reshifter (commit 0123456789ab); read it with a build that reads format 2); ' +
          'reshifter deletes only a backup whose manifest it reads',
      );
      expect(res.stderr).not.toContain('no backup');
      // Before: "written by a newer reshifter (reshifter 0.1.0); read it with that version or later", to someone running 0.1.0.
      expect(res.stderr).not.toContain('reshifter 0.1.0');
      expect((await readdir(join(dir, 'default'))).sort()).toEqual(before);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

it("verify of a backup whose content type this version does not know (a newer reshifter's): its content is said to be unchecked, not passed over", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rs-verify-unknown-'));
  try {
    const at = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: dir };
    const { id } = JSON.parse((await runInProcess(['backup', '--json'], at)).stdout) as { id: string };
    const file = join(dir, 'default', `${id}.manifest.json`);
    await writeFile(file, JSON.stringify({ ...JSON.parse(await readFile(file, 'utf8')), contentType: 'etcd-snapshot-v9' }));
    const res = await runInProcess(['verify', id], at);
    expect(res.code, res.stderr).toBe(0);
    // Before: size, sha256, decompress and raw-size, then nothing, as if the content had been checked too.
    expect(res.stdout).toContain('ok  \tsha256\t');
    expect(res.stdout).toContain('skip\tcontent\tnot checked: content type "etcd-snapshot-v9" is not one this version of reshifter knows (a newer version wrote it?): only its stored bytes are checked\n');
    const json = JSON.parse((await runInProcess(['verify', id, '--json'], at)).stdout) as { checks: Array<{ name: string; skipped?: boolean }> };
    expect(json.checks.find((c) => c.name === 'content')).toMatchObject({ skipped: true });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

it("a manifest a newer reshifter wrote (a compression this version does not know): said to be a newer one's, with its commit, never read", async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rs-newer-codec-'));
  try {
    const at = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: dir };
    const { id } = JSON.parse((await runInProcess(['backup', '--json'], at)).stdout) as { id: string };
    const file = join(dir, 'default', `${id}.manifest.json`);
    await writeFile(file, JSON.stringify({ ...JSON.parse(await readFile(file, 'utf8')), compression: 'lz4', tool: { name: 'reshifter', version: '0.1.0', commit: 'fedcba987654' } }));
    const res = await runInProcess(['list'], at);
    expect(res.stdout).toContain(
      `not listed: default/${id}.manifest.json cannot be read (manifest: default/${id}.manifest.json: field "compression" is "lz4", not zstd, gzip or none: ` +
        "a newer reshifter's (commit fedcba987654)? this build reads only those; read it with a build that knows compression \"lz4\"); its artifact is kept\n",
    );
    const verify = await runInProcess(['verify', id], at);
    expect(verify.code).toBe(1);
    expect(verify.stderr).toContain('field "compression" is "lz4", not zstd, gzip or none: a newer reshifter\'s (commit fedcba987654)?');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

// A store copied in part (an interrupted cp or rsync of the cluster's folder): the newest manifest cut short and the
// artifact of the one before it too. Before, the refusal of latest said "Give the id <that one> instead", a backup
// that restores nothing.
it('the newest manifest cut short and the artifact before it too: latest is refused naming the newest whole backup', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'rs-latest-copied-in-part-'));
  try {
    const at = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: dir };
    const made: Array<{ id: string; artifact: string }> = [];
    for (let i = 0; i < 3; i++) made.push(JSON.parse((await runInProcess(['backup', '--json'], at)).stdout) as { id: string; artifact: string });
    const [whole, cut, unread] = made as [{ id: string; artifact: string }, { id: string; artifact: string }, { id: string; artifact: string }];
    await writeFile(join(dir, 'default', `${unread.id}.manifest.json`), '{"cut short');
    const artifact = join(dir, 'default', cut.artifact);
    const stored = await readFile(artifact);
    await writeFile(artifact, stored.subarray(0, stored.length >> 1));
    const res = await runInProcess(['restore', 'latest', '--dry-run', '--keys'], at);
    expect(res.code, res.stderr).toBe(1);
    expect(res.stderr).toContain(`"latest" would be backup ${cut.id}, but the manifest of a newer backup cannot be read: default/${unread.id}.manifest.json (`);
    expect(res.stderr).toContain(`Nor will ${cut.id} do: its artifact ${cut.artifact} differs in size from its manifest: expected `);
    expect(res.stderr).toContain(`, found ${stored.length >> 1}, so it restores nothing; the newest whole one is ${whole.id} (snapshot, taken `);
    expect(res.stderr).toContain('): give its id instead, or repair or delete the newer backup');
    expect(res.stderr).not.toContain(`Give the id ${cut.id}`);
    const named = await runInProcess(['restore', whole.id, '--dry-run', '--keys'], at);
    expect(named.code, named.stderr).toBe(0);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
