import { mkdtemp, readdir, rm, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { startApi } from '../helpers/api.js';
import { runInProcess } from '../helpers/in-process.js';

/**
 * A backup whose artifact was removed from the store by hand (or lost), or cut short (a copy of the store that
 * stopped), while its manifest stayed restores nothing. Counted by retention, the newest such backups were kept as
 * `newest` and `last` while the older snapshots, the only ones that still restore, were deleted. They are kept and
 * counted for no rule; `list` says what is wrong with their artifact.
 */
let etcd: TestEtcd;
let dir: string;
const ids: string[] = [];
const artifacts: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rs-prune-missing-'));
  etcd = await startEtcd();
  await etcd.ctl(['put', '/registry/namespaces/default', '{"kind":"Namespace"}']);
  for (let i = 0; i < 4; i++) {
    const res = await runCli(['backup', '--json'], { RS_BACKUP_DIR: dir, RS_ETCD_ENDPOINTS: etcd.endpoint });
    expect(res.code, res.stderr).toBe(0);
    const m = JSON.parse(res.stdout) as { id: string; artifact: string };
    ids.unshift(m.id);
    artifacts.unshift(m.artifact);
  }
  // The newest snapshot loses its artifact, the next one half of it: the two oldest restore.
  await rm(join(dir, 'default', artifacts[0]!));
  await truncate(join(dir, 'default', artifacts[1]!), 100);
}, 60_000);
afterAll(async () => {
  await etcd?.stop();
  await rm(dir, { recursive: true, force: true });
});

it('prune keeps the only snapshot that restores when the newer ones lost their artifact', async () => {
  const env = { RS_BACKUP_DIR: dir, RS_RETENTION_KEEP_LAST: '1' };
  const dry = await runInProcess(['prune', '--dry-run'], env);
  expect(dry.code, dry.stderr).toBe(0);
  expect(dry.stdout).toContain(`keep\t${ids[0]}\tsnapshot\tartifact-missing`);
  expect(dry.stdout).toContain(`keep\t${ids[1]}\tsnapshot\tartifact-size`);
  expect(dry.stdout).toContain(`keep\t${ids[2]}\tsnapshot\tnewest,last`);
  expect(dry.stdout).toContain(`would delete\t${ids[3]}\tsnapshot`);
  const res = await runInProcess(['prune'], env);
  expect(res.code, res.stderr).toBe(0);
  const files = await readdir(join(dir, 'default'));
  expect(files).toContain(artifacts[2]);
  expect(files).not.toContain(artifacts[3]);
  const list = await runInProcess(['list'], { RS_BACKUP_DIR: dir });
  // One phrasing with restore's refusal (below): list's line is what `restore latest` and `restore <id>` say.
  const missingText = `backup ${ids[0]}: its artifact ${artifacts[0]} is missing from the store, so it restores nothing`;
  expect(list.stdout).toContain(`${missingText} (retention keeps its manifest and counts it for no rule)`);
  expect(list.stdout).toMatch(new RegExp(`backup ${ids[1]}: its artifact ${artifacts[1].replace(/\./g, '\\.')} differs in size from its manifest: expected \\d+ bytes, found 100, so it restores nothing`));
  // A script picking `list --json`'s first id (and the API's listing, the same function) can tell it restores nothing.
  const json = await runInProcess(['list', '--json'], { RS_BACKUP_DIR: dir });
  const listed = (JSON.parse(json.stdout) as Array<{ id: string; unusable?: string }>).map((m) => [m.id, m.unusable]);
  expect(listed).toEqual([
    [ids[0], 'artifact-missing'],
    [ids[1], 'artifact-size'],
    [ids[2], undefined],
  ]);
});

it('restore latest names the newest backup that is whole when the newest lost its artifact', async () => {
  // Before: 'its artifact ... is missing, though its manifest is there', and the operator in a recovery had to find
  // the id to give instead.
  const target = join(dir, 'restored');
  const res = await runInProcess(['restore', 'latest', '--data-dir', target], { RS_BACKUP_DIR: dir });
  expect(res.code).toBe(1);
  expect(res.stderr).toContain(`"latest" would be backup ${ids[0]}, but its artifact ${artifacts[0]} is missing from the store, so it restores nothing; the newest whole one is ${ids[2]} (snapshot, taken `);
  expect(res.stderr).toContain('give its id instead of "latest"');
  expect(await readdir(dir)).not.toContain('restored');
});

it('restore of such a backup by id is refused before anything is written, naming why and the backup to use', async () => {
  // Before: restore <id> began and failed late ('its artifact ... is missing, though its manifest is there', or a
  // size check after the download), without naming a backup that restores.
  const target = join(dir, 'restored-by-id');
  const missing = await runInProcess(['restore', ids[0]!, '--data-dir', target], { RS_BACKUP_DIR: dir });
  expect(missing.code).toBe(1);
  expect(missing.stderr).toContain(`backup ${ids[0]}: its artifact ${artifacts[0]} is missing from the store, so it restores nothing; the newest whole one is ${ids[2]} (snapshot, taken `);
  expect(missing.stderr).toContain('give its id instead');
  expect(await readdir(dir)).not.toContain('restored-by-id');
  // No etcd is asked: the refusal comes before the keys would be read.
  const cut = await runInProcess(['restore', ids[1]!, '--keys', '--dry-run'], { RS_BACKUP_DIR: dir, RS_ETCD_ENDPOINTS: 'http://127.0.0.1:9' });
  expect(cut.code).toBe(1);
  expect(cut.stderr).toMatch(new RegExp(`backup ${ids[1]}: its artifact ${artifacts[1]!.replace(/\./g, '\\.')} differs in size from its manifest: expected \\d+ bytes, found 100, so it restores nothing; the newest whole one is ${ids[2]} `));
});

it('verify of such a backup by id still reads it, and fails naming the problem', async () => {
  const missing = await runInProcess(['verify', ids[0]!], { RS_BACKUP_DIR: dir });
  expect(missing.code).toBe(1);
  expect(missing.stdout).toMatch(/FAIL\tread\t.* is missing, though its manifest is there/);
  const cut = await runInProcess(['verify', ids[1]!], { RS_BACKUP_DIR: dir });
  expect(cut.code).toBe(1);
  expect(cut.stdout).toMatch(/FAIL\tsize\t100 bytes stored, manifest says \d+/);
});

it('the API refuses a restore of such a backup with 409 and the reason, and starts no job', async () => {
  // Before: 202 and a job that failed when it read the artifact.
  const token = 'restore-unusable-token-1234';
  const api = await startApi({ RS_BACKUP_DIR: dir, RS_API_TOKEN: token });
  try {
    const res = await api.call('/api/v1/restores', { method: 'POST', token, json: { backupId: ids[0], dryRun: true } });
    const body = (await res.json()) as { code: string; error: string };
    expect(res.status, JSON.stringify(body)).toBe(409);
    expect(body.error).toContain(`backup ${ids[0]}: its artifact ${artifacts[0]} is missing from the store, so it restores nothing; the newest whole one is ${ids[2]} `);
    expect(api.jobs.list()).toEqual([]);
  } finally {
    await api.stop();
  }
});

it('restore --to, stats, inspect and diff of such a backup by id are refused up front in the same words', async () => {
  // Before: each began reading and failed late with 'its artifact ... is missing, though its manifest is there',
  // naming no backup to use instead. No etcd is asked: the refusal comes before anything is read.
  const env = { RS_BACKUP_DIR: dir, RS_ETCD_ENDPOINTS: 'http://127.0.0.1:9' };
  const missing = `backup ${ids[0]}: its artifact ${artifacts[0]} is missing from the store, so it restores nothing; the newest whole one is ${ids[2]} (snapshot, taken `;
  for (const args of [['restore', ids[0]!, '--to', 'latest', '--keys', '--dry-run'], ['stats', ids[0]!], ['inspect', ids[0]!], ['diff', ids[0]!, ids[2]!], ['diff', ids[2]!, ids[0]!]]) {
    const res = await runInProcess(args, env);
    expect({ args, code: res.code, stderr: res.stderr }).toEqual({ args, code: 1, stderr: expect.stringContaining(missing) as unknown });
  }
  const cut = await runInProcess(['stats', ids[1]!], env);
  expect(cut.code).toBe(1);
  expect(cut.stderr).toMatch(new RegExp(`backup ${ids[1]}: its artifact ${artifacts[1]!.replace(/\./g, '\\.')} differs in size from its manifest: expected \\d+ bytes, found 100, so it restores nothing`));
});

it('the API refuses a restore to a point, stats, a diff and a download of such a backup with 409', async () => {
  const token = 'read-unusable-token-1234';
  const api = await startApi({ RS_BACKUP_DIR: dir, RS_API_TOKEN: token, RS_ETCD_ENDPOINTS: 'http://127.0.0.1:9' });
  const missing = `backup ${ids[0]}: its artifact ${artifacts[0]} is missing from the store, so it restores nothing; the newest whole one is ${ids[2]} `;
  try {
    const calls: Array<[string, RequestInit & { token?: string; json?: unknown }]> = [
      ['/api/v1/restores', { method: 'POST', token, json: { backupId: ids[0], to: 'latest', dryRun: true } }],
      [`/api/v1/stats/${ids[0]}`, { token }],
      [`/api/v1/diff?from=${ids[0]}&to=${ids[2]}`, { token }],
      [`/api/v1/backups/${ids[0]}/artifact`, { token }],
    ];
    for (const [path, init] of calls) {
      const res = await api.call(path, init);
      const body = (await res.json()) as { error: string };
      expect({ path, status: res.status, error: body.error }).toEqual({ path, status: 409, error: expect.stringContaining(missing) as unknown });
    }
    expect(api.jobs.list()).toEqual([]);
  } finally {
    await api.stop();
  }
});
