import { mkdir, mkdtemp, readFile, readdir, rename, rm, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalStore } from '../../src/store/local-store.js';
import { startApi } from '../helpers/api.js';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { loadBigValues } from '../helpers/faults.js';
import { writeGoReshifterZip } from '../helpers/go-reshifter-zip.js';
import { startS3Proxy, type S3Proxy } from '../helpers/s3-proxy.js';
import { startS3, type TestS3 } from '../helpers/s3.js';

/** How stored backups are protected: owner-only local files and folders, and S3 server-side encryption. */
describe('store protection', () => {
  let etcd: TestEtcd;
  let s3: TestS3;
  let proxy: S3Proxy;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rs-protect-'));
    [etcd, s3] = await Promise.all([startEtcd(), startS3()]);
    await loadBigValues(etcd.endpoint, 20); // a 10 MiB snapshot: uploaded in parts
    proxy = await startS3Proxy(s3.endpoint);
    const client = new Etcd3({ hosts: etcd.endpoint });
    try {
      await client.put('/registry/secrets/default/db').value('s3cr3t');
    } finally {
      client.close();
    }
  });
  afterAll(async () => {
    await proxy?.close();
    await Promise.all([etcd?.stop(), s3?.stop()]);
    await rm(dir, { recursive: true, force: true });
  });

  it('local backups are readable by their owner only (folders 0700, files 0600), whatever the umask', async () => {
    const store = join(dir, 'local', 'nested');
    const previous = process.umask(0o000);
    try {
      const res = await runCli(['backup', '--json'], { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: store, RS_COMPRESSION: 'none' });
      expect(res.code).toBe(0);
    } finally {
      process.umask(previous);
    }
    const mode = async (p: string) => (await stat(p)).mode & 0o777;
    expect(await mode(join(dir, 'local'))).toBe(0o700);
    expect(await mode(store)).toBe(0o700);
    expect(await mode(join(store, 'default'))).toBe(0o700);
    const files = await readdir(join(store, 'default'));
    expect(files).toHaveLength(2);
    for (const f of files) expect(await mode(join(store, 'default', f)), f).toBe(0o600);
  });

  // Whoever can write RS_BACKUP_DIR could link a cluster's folder elsewhere (`/backups/prod -> /etc`): the backup,
  // run as root by the systemd unit, wrote through it. A 10 MiB snapshot (refused while etcd still streams it) and a
  // small key dump (fed whole before the refusal: that crashed on an unhandled 'error' event).
  it.each([
    ['a snapshot', 'snapshot', 'points'],
    ['a key dump', 'filter:secrets', 'points'],
    ['a snapshot', 'snapshot', 'dangles'],
  ])('%s (%s) into a cluster folder that is a link that %s outside the store is refused, nothing written', async (_what, strategy, kind) => {
    const store = join(dir, `linked-out-${strategy.replace(':', '-')}-${kind}`);
    const outside = join(dir, `outside-${strategy.replace(':', '-')}-${kind}`);
    await mkdir(store);
    if (kind === 'points') await mkdir(outside);
    const target = kind === 'points' ? outside : join(outside, 'etc');
    await symlink(target, join(store, 'prod'));
    const res = await runCli(['backup'], { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: store, RS_CLUSTER_NAME: 'prod', RS_BACKUP_STRATEGY: strategy });
    expect(res.stderr).toContain(`reshifter: refusing to write ${join(store, 'prod')}/`);
    expect(res.stderr).toContain(`: ${join(store, 'prod')} is a symbolic link to ${target}, outside the store ${store}; a folder in RS_BACKUP_DIR may lead only to another place inside it\n`);
    expect(res.stderr).not.toMatch(/Unhandled|at .*\.js:\d+/);
    expect(res.code).toBe(1);
    // Nothing outside, not even a folder made through a link that led nowhere; nothing in the store but the link.
    if (kind === 'points') expect(await readdir(outside)).toEqual([]);
    else await expect(stat(outside)).rejects.toThrow(/ENOENT/);
    expect(await readdir(store)).toEqual(['prod']);
  });

  it('RS_BACKUP_DIR may be a link to another disk, and a cluster folder a link to another place inside it', async () => {
    const disk = join(dir, 'other-disk');
    const store = join(dir, 'store-link');
    await mkdir(join(disk, 'clusters', 'prod-2026'), { recursive: true });
    await symlink(disk, store);
    await symlink('clusters/prod-2026', join(disk, 'prod'));
    const env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: store, RS_CLUSTER_NAME: 'prod', RS_BACKUP_STRATEGY: 'filter:secrets' };
    const res = await runCli(['backup'], env);
    expect(res.stderr).toMatch(/backup completed/);
    expect(res.code).toBe(0);
    expect((await readdir(join(disk, 'clusters', 'prod-2026'))).sort()).toEqual([`${res.stdout.split('\t')[0]}.raw.tar.zst`, `${res.stdout.split('\t')[0]}.manifest.json`].sort());
    // A cluster folder the backup makes itself is made in the store's real place.
    const other = await runCli(['backup'], { ...env, RS_CLUSTER_NAME: 'staging' });
    expect(other.code).toBe(0);
    expect(await readdir(join(disk, 'staging'))).toHaveLength(2);
  });

  // Whoever can write RS_BACKUP_DIR could link a backup's file to one only root may read, its manifest's size to
  // match: the API's download, run as root, streamed it whole (a sha256 check comes after the bytes are sent).
  it('a backup file that is a link leading outside the store is not read: not by the API download, not by verify', async () => {
    const store = join(dir, 'linked-file');
    const env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: store, RS_BACKUP_STRATEGY: 'filter:secrets', RS_COMPRESSION: 'none' };
    const made = await runCli(['backup', '--json'], env);
    expect(made.code, made.stderr).toBe(0);
    const m = JSON.parse(made.stdout) as { id: string; artifact: string; sizeBytes: number };
    const secret = join(dir, 'root-only.key');
    await writeFile(secret, 'PRIVATE KEY of the etcd server\n', { mode: 0o600 });
    // A link inside the store is read as before: the artifact moved to another folder in it and linked back.
    const artifact = join(store, 'default', m.artifact);
    await mkdir(join(store, 'elsewhere'));
    await rename(artifact, join(store, 'elsewhere', m.artifact));
    await symlink(join(store, 'elsewhere', m.artifact), artifact);
    expect((await runCli(['verify', m.id], env)).code).toBe(0);
    await unlink(artifact);
    await symlink(secret, artifact);
    const manifest = join(store, 'default', `${m.id}.manifest.json`);
    await writeFile(manifest, JSON.stringify({ ...JSON.parse(await readFile(manifest, 'utf8')), sizeBytes: (await stat(secret)).size }));
    const refused = `refusing to read ${artifact}: it leads to ${secret}, outside the store ${store}; a file in RS_BACKUP_DIR may lead only to another place inside it`;
    const api = await startApi({ ...env, RS_API_TOKEN: 'store-protection-token-1234' });
    try {
      const res = await api.call(`/api/v1/backups/${m.id}/artifact`, { token: 'store-protection-token-1234' });
      const body = await res.text();
      expect(body).not.toContain('PRIVATE KEY');
      expect(res.status).not.toBe(200);
      expect(body).toContain(refused);
    } finally {
      await api.stop();
    }
    const verify = await runCli(['verify', m.id], env);
    expect(verify.stderr + verify.stdout).toContain(refused);
    expect(verify.stderr + verify.stdout).not.toContain('PRIVATE KEY');
    expect(verify.code).toBe(1);
  });

  it('one store that reads on after RS_BACKUP_DIR, a link, is pointed to another disk: reads the new place, refuses a link leading out of it', async () => {
    // The root's real path is found once per store, and again before a read would be refused: a `run` whose backup
    // folder is moved to a bigger disk (the link replaced) reads on, and a link out of the new place is still refused.
    const [diskA, diskB, root] = [join(dir, 'disk-a'), join(dir, 'disk-b'), join(dir, 'moving-root')];
    await Promise.all([mkdir(diskA), mkdir(diskB)]);
    await writeFile(join(diskA, 'a.txt'), 'on disk A');
    await writeFile(join(diskB, 'b.txt'), 'on disk B');
    await symlink(diskA, root);
    const store = new LocalStore(root);
    const read = async (key: string) => Buffer.concat(await (await store.get(key)).toArray()).toString();
    expect(await read('a.txt')).toBe('on disk A');
    await unlink(root);
    await symlink(diskB, root);
    expect(await read('b.txt')).toBe('on disk B');
    await symlink(join(dir, 'root-only-b.key'), join(diskB, 'out.txt'));
    await writeFile(join(dir, 'root-only-b.key'), 'PRIVATE KEY\n', { mode: 0o600 });
    await expect(read('out.txt')).rejects.toThrow(`refusing to read ${join(root, 'out.txt')}: it leads to ${join(dir, 'root-only-b.key')}, outside the store ${root} (${diskB})`);
  });

  // A Go Reshifter zip is read in place, with no manifest and no sha256 to check it against: a link under its name
  // (whoever can write RS_BACKUP_DIR) to a zip of their own outside the store had its keys restored into etcd.
  it('a Go Reshifter zip that is a link leading outside the store is not read: nothing restored', async () => {
    const store = join(dir, 'go-zip');
    await mkdir(store, { recursive: true });
    const theirs = await writeGoReshifterZip(join(dir, 'theirs.zip'), '1498050161', [['/registry/secrets/kube-system/planted', 'theirs']]);
    await symlink(theirs, join(store, '1498050161.zip'));
    const env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: store };
    const res = await runCli(['restore', '1498050161'], env);
    expect(res.stderr).toContain(`refusing to read ${join(store, '1498050161.zip')}: it leads to ${theirs}, outside the store ${store}`);
    expect(res.code).toBe(1);
    const client = new Etcd3({ hosts: etcd.endpoint });
    try {
      expect(await client.get('/registry/secrets/kube-system/planted').string()).toBeNull();
    } finally {
      client.close();
    }
    // The same zip inside the store, linked from its name there, is read.
    await unlink(join(store, '1498050161.zip'));
    await mkdir(join(store, 'elsewhere'));
    await rename(theirs, join(store, 'elsewhere', '1498050161.zip'));
    await symlink(join(store, 'elsewhere', '1498050161.zip'), join(store, '1498050161.zip'));
    const inside = await runCli(['restore', '1498050161', '--dry-run'], env);
    expect(inside.code, inside.stderr).toBe(0);
  });

  it.each([
    ['AES256', {}, { 'x-amz-server-side-encryption': 'AES256' }],
    ['aws:kms', { RS_S3_SSE_KMS_KEY_ID: 'arn:aws:kms:eu-west-1:111122223333:key/test' }, { 'x-amz-server-side-encryption': 'aws:kms', 'x-amz-server-side-encryption-aws-kms-key-id': 'arn:aws:kms:eu-west-1:111122223333:key/test' }],
  ])('RS_S3_SSE=%s is sent with every object written (multipart artifact and manifest)', async (sse, extra, headers) => {
    const n = proxy.requests.length;
    const res = await runCli(['backup'], { ...s3.env, RS_S3_ENDPOINT: proxy.endpoint, RS_ETCD_ENDPOINTS: etcd.endpoint, RS_COMPRESSION: 'none', RS_S3_SSE: sse, ...extra });
    expect(res.stderr).toMatch(/backup completed/);
    expect(res.code).toBe(0);
    const writes = proxy.requests.slice(n).filter((r) => r.op === 'CreateMultipartUpload' || r.op === 'PutObject');
    expect(writes.map((r) => r.op).sort()).toEqual(['CreateMultipartUpload', 'PutObject']);
    for (const w of writes) expect(w.headers, w.op).toMatchObject(headers);
  });

  it('without RS_S3_SSE, no encryption header is sent (the bucket default applies)', async () => {
    const n = proxy.requests.length;
    const res = await runCli(['backup'], { ...s3.env, RS_S3_ENDPOINT: proxy.endpoint, RS_ETCD_ENDPOINTS: etcd.endpoint, RS_COMPRESSION: 'none' });
    expect(res.code).toBe(0);
    const writes = proxy.requests.slice(n).filter((r) => r.op === 'CreateMultipartUpload' || r.op === 'PutObject');
    expect(writes.map((r) => r.op).sort()).toEqual(['CreateMultipartUpload', 'PutObject']);
    for (const w of proxy.requests.slice(n)) expect(w.headers['x-amz-server-side-encryption'], w.op).toBeUndefined();
  });
});
