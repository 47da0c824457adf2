import { execFile } from 'node:child_process';
import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CopyObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { runInProcess } from '../helpers/in-process.js';
import { startS3 } from '../helpers/s3.js';

/**
 * A cluster's folder copied out of the store under another name, as an operator's `aws s3 sync
 * s3://b/team/prod ./etcd-copy` or `cp -r` makes it, read there with RS_BACKUP_DIR (or copied back to S3 so). Before,
 * `list` named the copy's folder as the cluster to set (`holds the backups of cluster etcd-copy: set RS_CLUSTER_NAME`),
 * and with that set every manifest was "unreadable" (`names backup prod/<id>, not itself`): a dead end. Now every
 * command names the folder, the cluster its manifests are of, and the move that makes them readable; a backup of
 * another cluster is still never read as this one's.
 */
let etcd: TestEtcd;
let root: string;
let store: string;
let id: string;

beforeAll(async () => {
  etcd = await startEtcd();
  root = await mkdtemp(join(tmpdir(), 'rs-copied-'));
  store = join(root, 'store');
  await etcd.ctl(['put', '/registry/configmaps/default/a', 'x']);
  const made = await runInProcess(['backup', '--json'], { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: store, RS_CLUSTER_NAME: 'prod' });
  expect(made.code, made.stderr).toBe(0);
  id = (JSON.parse(made.stdout) as { id: string }).id;
});
afterAll(async () => {
  await etcd?.stop();
  await rm(root, { recursive: true, force: true });
});

it('a local copy under another folder name: list, latest and an id name the folder, the cluster and the move; the move works', async () => {
  const laptop = join(root, 'laptop');
  await cp(join(store, 'prod'), join(laptop, 'etcd-copy'), { recursive: true });
  const hint =
    `${laptop}/etcd-copy holds a backup of cluster prod (as its manifest says) in a folder named otherwise (copied there, or the folder renamed), ` +
    `and a backup is read only in the folder named as its cluster: move them there ("mkdir -p ${laptop}/prod && mv ${laptop}/etcd-copy/* ${laptop}/prod/") ` +
    'and set RS_CLUSTER_NAME (or --cluster) to prod';
  // As the backups were taken (RS_CLUSTER_NAME=prod): the folder holding them, not its name as the cluster to set.
  const asProd = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: laptop, RS_CLUSTER_NAME: 'prod' };
  const list = await runInProcess(['list'], asProd);
  expect(list.code).toBe(0);
  expect(list.stdout).toBe(`no backups of cluster "prod" in ${laptop}\n${hint}\n`);
  const restore = await runInProcess(['restore', 'latest', '--dry-run'], asProd);
  expect(restore.code).toBe(1);
  expect(restore.stderr).toContain(`no backups of cluster "prod" in ${laptop}; ${hint}\n`);
  // With the folder's name as the cluster: the same, rather than each manifest as broken.
  const asFolder = { ...asProd, RS_CLUSTER_NAME: 'etcd-copy' };
  const listed = await runInProcess(['list'], asFolder);
  expect(listed.stdout).toBe(`no backups of cluster "etcd-copy" in ${laptop}\n${hint}\n`);
  for (const args of [['verify', 'latest'], ['inspect', 'latest']]) {
    const res = await runInProcess(args, asFolder);
    expect(res.code, args.join(' ')).toBe(1);
    expect(res.stderr).toContain(`no backups of cluster "etcd-copy" in ${laptop}; ${hint}\n`);
  }
  const byId = await runInProcess(['verify', id], asFolder);
  expect(byId.code).toBe(1);
  expect(byId.stderr).toContain(`etcd-copy/${id}.manifest.json is of a backup of cluster prod, not of cluster etcd-copy whose folder holds it`);
  expect(byId.stderr).not.toContain('not itself');
  // --all-clusters: the folder is no cluster of its own; said under the table, and as copyOf in --json.
  const all = await runInProcess(['list', '--all-clusters'], asProd);
  expect(all.stdout).toMatch(/^ CLUSTER .*\n etcd-copy +- +- +- +1 +-\n/);
  expect(all.stdout).toContain(`\n${hint}\n`);
  expect(JSON.parse((await runInProcess(['list', '--all-clusters', '--json'], asProd)).stdout)).toEqual([{ cluster: 'etcd-copy', backups: 1, current: false, copyOf: 'prod' }]);
  // The advice, as a shell runs it.
  await promisify(execFile)('sh', ['-c', `mkdir -p ${laptop}/prod && mv ${laptop}/etcd-copy/* ${laptop}/prod/`]);
  const advised = await runInProcess(['verify', 'latest'], asProd);
  expect(advised.code, advised.stderr).toBe(0);
});

it('a folder with another cluster synced into it: the own backups listed, the others named as such, never read as its own', async () => {
  const mixed = join(root, 'mixed');
  await cp(store, mixed, { recursive: true });
  const other = await runInProcess(['backup', '--json'], { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: mixed, RS_CLUSTER_NAME: 'staging' });
  expect(other.code, other.stderr).toBe(0);
  const staging = (JSON.parse(other.stdout) as { id: string }).id;
  await cp(join(mixed, 'staging'), join(mixed, 'prod'), { recursive: true });
  const res = await runInProcess(['list'], { RS_BACKUP_DIR: mixed, RS_CLUSTER_NAME: 'prod' });
  expect(res.code).toBe(0);
  expect(res.stdout).toContain(`${id}  `);
  expect(res.stdout).toContain(`not listed: prod/${staging}.manifest.json cannot be read (manifest: prod/${staging}.manifest.json is of a backup of cluster staging, not of cluster prod whose folder holds it`);
  expect(JSON.parse((await runInProcess(['list', '--json'], { RS_BACKUP_DIR: mixed, RS_CLUSTER_NAME: 'prod' })).stdout).map((m: { id: string }) => m.id)).toEqual([id]);
  // latest is refused (a newer backup's manifest is there, unread), saying where staging's backups belong.
  const latest = await runInProcess(['verify', 'latest'], { RS_BACKUP_DIR: mixed, RS_CLUSTER_NAME: 'prod' });
  expect(latest.code).toBe(1);
  expect(latest.stderr).toContain(`Give the id ${id} instead of "latest" to use it, or move the newer backups' files to the folder of cluster staging\n`);
  // Not deleted as prod's either: named as staging's, with where it belongs.
  const del = await runInProcess(['delete', staging], { RS_BACKUP_DIR: mixed, RS_CLUSTER_NAME: 'prod' });
  expect(del.code).toBe(1);
  expect(del.stderr).toContain(`backup ${staging} cannot be deleted: its manifest prod/${staging}.manifest.json cannot be read (manifest: prod/${staging}.manifest.json is of a backup of cluster staging`);
  expect(del.stderr).toContain(`so it is left as it is: move its files (${staging}.*) to the folder of cluster staging, or remove its files (${staging}.*) by hand`);
  expect(await readdir(join(mixed, 'prod'))).toContain(`${staging}.manifest.json`);
});

it('an S3 copy under another prefix and name (aws s3 sync): named with the aws s3 mv that makes it readable', async () => {
  const s3 = await startS3();
  const client = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
  try {
    const env = { ...s3.env, RS_ETCD_ENDPOINTS: etcd.endpoint, RS_S3_PREFIX: 'team' };
    expect((await runInProcess(['backup'], { ...env, RS_CLUSTER_NAME: 'prod' })).code).toBe(0);
    const listed = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: 'team/prod/' }));
    for (const o of listed.Contents ?? []) {
      const to = o.Key!.replace('team/prod/', 'copy/prod-eu/');
      await client.send(new CopyObjectCommand({ Bucket: s3.bucket, Key: to, CopySource: `${s3.bucket}/${o.Key!}` }));
    }
    const where = `s3://${s3.bucket}/copy`;
    const res = await runInProcess(['restore', 'latest', '--dry-run'], { ...env, RS_S3_PREFIX: 'copy', RS_CLUSTER_NAME: 'prod-eu' });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(
      `no backups of cluster "prod-eu" in ${where}; ${where}/prod-eu holds a backup of cluster prod (as its manifest says) in a folder named otherwise ` +
        `(copied there, or the folder renamed), and a backup is read only in the folder named as its cluster: move them there ` +
        `("aws s3 mv --recursive ${where}/prod-eu/ ${where}/prod/") and set RS_CLUSTER_NAME (or --cluster) to prod\n`,
    );
    const list = await runInProcess(['list'], { ...env, RS_S3_PREFIX: 'copy', RS_CLUSTER_NAME: 'prod' });
    expect(list.stdout).toContain(`${where}/prod-eu holds a backup of cluster prod`);
  } finally {
    client.destroy();
    await s3.stop();
  }
});

it("RS_BACKUP_DIR naming the copy itself (its own files, as after cd into it): the cluster its manifests name, not the folder's, and the move", async () => {
  const laptop = join(root, 'laptop-inside');
  await cp(join(store, 'prod'), join(laptop, 'etcd'), { recursive: true });
  const inside = join(laptop, 'etcd');
  const res = await runInProcess(['list'], { RS_BACKUP_DIR: inside, RS_CLUSTER_NAME: 'prod' });
  expect(res.code).toBe(0);
  // Before: "set RS_BACKUP_DIR to the folder above it, <laptop>, and RS_CLUSTER_NAME to its name, etcd", a dead end.
  expect(res.stdout).toBe(
    `no backups of cluster "prod" in ${inside}\n${inside} is a cluster's folder (it holds backup files itself), of cluster prod (as its manifests say) ` +
      `under another name, etcd: move its files into a folder named prod ("mkdir -p ${laptop}/prod && mv ${inside}/* ${laptop}/prod/"), ` +
      `set RS_BACKUP_DIR to the folder above it, ${laptop}, and RS_CLUSTER_NAME to prod\n`,
  );
  await promisify(execFile)('sh', ['-c', `mkdir -p ${laptop}/prod && mv ${inside}/* ${laptop}/prod/`]);
  const advised = await runInProcess(['verify', 'latest'], { RS_BACKUP_DIR: laptop, RS_CLUSTER_NAME: 'prod' });
  expect(advised.code, advised.stderr).toBe(0);
});

it("the advised move works as a shell runs it where the path holds a space and a quote (a laptop's \"My Backups\")", async () => {
  const laptop = join(root, "it's my backups");
  await cp(join(store, 'prod'), join(laptop, 'copy'), { recursive: true });
  const res = await runInProcess(['list'], { RS_BACKUP_DIR: laptop, RS_CLUSTER_NAME: 'prod' });
  const move = /move them there \("(.*)"\) and set/.exec(res.stdout)?.[1];
  expect(move, res.stdout).toBeDefined();
  await promisify(execFile)('sh', ['-c', move!]);
  expect(await readdir(join(laptop, 'copy'))).toEqual([]);
  const advised = await runInProcess(['verify', 'latest'], { RS_BACKUP_DIR: laptop, RS_CLUSTER_NAME: 'prod' });
  expect(advised.code, advised.stderr).toBe(0);
});
