import { execFileSync } from 'node:child_process';
import { mkdtemp, open, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { runInProcess } from '../helpers/in-process.js';
import { startS3, type TestS3 } from '../helpers/s3.js';

/**
 * A recovery at 3 a.m.: the newest snapshot in S3 was damaged at rest (its size as the manifest says, its bytes not),
 * so only the download's sha256 finds it. `restore latest` refuses it, writing nothing, and names the backup to take
 * instead with the command that restores it as asked, as it does for an artifact that is missing or cut short.
 */
let etcd: TestEtcd;
let s3: TestS3;
let work: string;
const ids: string[] = [];
let env: Record<string, string>;

beforeAll(async () => {
  [etcd, s3] = await Promise.all([startEtcd(), startS3()]);
  work = await mkdtemp(join(tmpdir(), 'rs-damaged-latest-'));
  const keyFile = join(work, 'age.txt');
  execFileSync('age-keygen', ['-o', keyFile], { stdio: 'pipe' });
  const recipient = execFileSync('age-keygen', ['-y', keyFile]).toString().trim();
  env = { ...s3.env, RS_CLUSTER_NAME: 'prod', RS_ETCD_ENDPOINTS: etcd.endpoint, RS_ENCRYPTION_RECIPIENTS: recipient, RS_ENCRYPTION_IDENTITY_FILE: keyFile };
  for (let i = 0; i < 2; i++) {
    await etcd.ctl(['put', `/registry/configmaps/default/cm-${i}`, `value-${i}`]);
    const res = await runCli(['backup', '--json'], env);
    expect(res.code, res.stderr).toBe(0);
    ids.unshift((JSON.parse(res.stdout) as { id: string }).id);
  }
  // Bytes in the middle of the newest artifact overwritten in place: same size, another sha256.
  const artifact = (await readdir(join(s3.dir, s3.bucket, 'prod'))).find((f) => f.startsWith(ids[0]!) && f.endsWith('.age._S3rver_object'))!;
  const file = await open(join(s3.dir, s3.bucket, 'prod', artifact), 'r+');
  await file.write(Buffer.from('XXXXXXXX'), 0, 8, 200);
  await file.close();
}, 60_000);

afterAll(async () => {
  await Promise.all([etcd?.stop(), s3?.stop(), work && rm(work, { recursive: true, force: true })]);
});

it('restore latest --data-dir of a damaged newest snapshot writes nothing and names the one before it with the command to restore it', async () => {
  // Before: `sha256: ... refusing to use a corrupt backup`, and the operator had to find which backup to take instead.
  const dataDir = join(work, 'm1');
  const member = ['--name', 'm1', '--initial-cluster', 'm1=http://127.0.0.1:2380,m2=http://127.0.0.2:2380', '--initial-advertise-peer-urls', 'http://127.0.0.1:2380'];
  const res = await runInProcess(['restore', 'latest', '--data-dir', dataDir, ...member], env);
  expect(res.code, res.stderr).toBe(1);
  expect(res.stderr).toContain(`sha256: backup ${ids[0]}'s stored bytes hash to `);
  expect(res.stderr).toContain(`"latest" is backup ${ids[0]}, which restores nothing, and nothing was written; the newest other one is ${ids[1]} (snapshot, revision `);
  const command = `reshifter restore ${ids[1]} --data-dir ${dataDir} ${member.join(' ')}`;
  expect(res.stderr).toContain(`restore it with "${command}" ("reshifter verify ${ids[1]}" checks it in full first)`);
  await expect(readdir(dataDir)).rejects.toThrow(/ENOENT/);
  // The command named does the restore.
  const again = await runInProcess(command.split(' ').slice(1), env);
  expect(again.code, again.stderr).toBe(0);
  expect(again.stdout).toContain(`restored snapshot ${ids[1]} `);
  expect((await readdir(dataDir)).sort()).toEqual(['member']);
});

it('restore latest --snapshot-file says the same, with the command for a snapshot file', async () => {
  const file = join(work, 'restore.db');
  const res = await runInProcess(['restore', 'latest', '--snapshot-file', file], env);
  expect(res.code, res.stderr).toBe(1);
  expect(res.stderr).toContain(`restore it with "reshifter restore ${ids[1]} --snapshot-file ${file}"`);
  expect(await readdir(work)).not.toContain('restore.db');
});

it('a backup given by id is refused as before: the operator chose it', async () => {
  const res = await runInProcess(['restore', ids[0]!, '--snapshot-file', join(work, 'by-id.db')], env);
  expect(res.code, res.stderr).toBe(1);
  expect(res.stderr).toContain('refusing to use a corrupt backup');
  expect(res.stderr).not.toContain('the newest other one');
});

it('restore latest with an identity file that holds only the key before a rotation names the newest backup it can read, and the command', async () => {
  // Before: "none of the configured keys can decrypt this backup ... it was encrypted to age1...", and which older
  // backup that key (or none: an unencrypted one) reads was left to find.
  const oldKey = join(work, 'old.txt');
  const newKey = join(work, 'new.txt');
  execFileSync('age-keygen', ['-o', oldKey], { stdio: 'pipe' });
  execFileSync('age-keygen', ['-o', newKey], { stdio: 'pipe' });
  const recipient = (file: string) => execFileSync('age-keygen', ['-y', file]).toString().trim();
  const rotated = { ...env, RS_CLUSTER_NAME: 'rotated', RS_ENCRYPTION_IDENTITY_FILE: oldKey };
  const backup = async (key: string) => {
    const res = await runCli(['backup', '--json'], { ...rotated, RS_ENCRYPTION_RECIPIENTS: recipient(key) });
    expect(res.code, res.stderr).toBe(0);
    return (JSON.parse(res.stdout) as { id: string }).id;
  };
  const before = await backup(oldKey);
  const after = await backup(newKey);
  const file = join(work, 'rotated.db');
  const res = await runInProcess(['restore', 'latest', '--snapshot-file', file], rotated);
  expect(res.code, res.stderr).toBe(1);
  expect(res.stderr).toContain(`decrypt: none of the configured keys can decrypt this backup (tried RS_ENCRYPTION_IDENTITY_FILE=${oldKey} `);
  expect(res.stderr).toContain(
    `; nothing was written. The newest backup of that kind these keys can read (encrypted to these keys) is ${before} (snapshot, revision `,
  );
  expect(res.stderr).toContain(`restore it with "reshifter restore ${before} --snapshot-file ${file}": an older state than "latest" (${after})`);
  expect(await readdir(work)).not.toContain('rotated.db');
  const again = await runInProcess(['restore', before, '--snapshot-file', file], rotated);
  expect(again.code, again.stderr).toBe(0);
});
