import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { startS3, type TestS3 } from '../helpers/s3.js';
import { startS3Proxy, type S3Proxy } from '../helpers/s3-proxy.js';

/**
 * An S3 endpoint whose listing of a cluster's folder names keys that are not in it (a compromised MinIO, a
 * misbehaving proxy): another cluster's artifact under a folder name of the same length, a key at the top of the
 * bucket, one that climbs out with `..`. reshifter cut the prefix it had asked for off every key without looking, so
 * `etcd/bbbbbbb/<id>.snapshot.db` in the listing of `etcd/default/` was taken for a leftover of a killed backup of
 * `default` and retention deleted it: another cluster's backup. The test proxy in front of s3rver stands in for that
 * endpoint (s3rver lists only what is under the prefix); the backups and the deletes are real.
 */
let etcd: TestEtcd;
let s3: TestS3;
let proxy: S3Proxy;
let other: { id: string; artifact: string };

const env = (extra: Record<string, string> = {}) => ({
  ...s3.env, RS_S3_ENDPOINT: proxy.endpoint, RS_ETCD_ENDPOINTS: etcd.endpoint, RS_S3_PREFIX: 'etcd', RS_COMPRESSION: 'none', RS_S3_RETRY_WINDOW: '1s', ...extra,
});

/** `xml` with a Contents entry for `key`, old enough for retention to sweep it as a leftover. */
function withKey(xml: string, key: string): string {
  const entry = `<Contents><Key>${key}</Key><Size>1</Size><LastModified>2020-01-01T00:00:00.000Z</LastModified></Contents>`;
  return xml.replace('</ListBucketResult>', `${entry}</ListBucketResult>`);
}

async function otherClusterFiles(): Promise<string[]> {
  return (await readdir(join(s3.dir, s3.bucket, 'etcd', 'bbbbbbb'))).filter((f) => !f.startsWith('.')).sort();
}

beforeAll(async () => {
  etcd = await startEtcd();
  s3 = await startS3();
  proxy = await startS3Proxy(s3.endpoint);
  await etcd.ctl(['put', '/registry/secrets/default/db', 'password']);
  for (const cluster of ['default', 'default', 'bbbbbbb']) {
    const res = await runCli(['backup', '--json'], env({ RS_CLUSTER_NAME: cluster }));
    expect(res.code, res.stderr).toBe(0);
    if (cluster === 'bbbbbbb') other = JSON.parse(res.stdout) as { id: string; artifact: string };
  }
});
afterAll(async () => {
  await proxy?.close();
  await s3?.stop();
  await etcd?.stop();
});

const HOSTILE = [
  ['another cluster\'s artifact', () => `etcd/bbbbbbb/${other.artifact}`],
  ['a key at the top of the bucket', () => '/etc/passwd'],
  ['a key that climbs out of the folder', () => 'etcd/default/../../x'],
  ['a key below the folder', () => `etcd/default/sub/${other.artifact}`],
  ['a key outside the folder with a newline', () => `etcd/bbbbbbb/\n${other.artifact}`],
] as const;

it.each(HOSTILE)('a listing naming %s: list, prune and restore fail naming it and the endpoint, nothing is deleted', async (_, key) => {
  const before = await otherClusterFiles();
  proxy.rewriteListing = (xml, prefix) => (prefix === 'etcd/default/' ? withKey(xml, key()) : xml);
  try {
    const gets = proxy.ops('GetObject').length;
    for (const args of [['list'], ['prune'], ['prune', '--dry-run'], ['restore', 'latest', '--dry-run']]) {
      const res = await runCli(args, env({ RS_RETENTION_KEEP_LAST: '5' }));
      expect(res.code, `${args.join(' ')}: ${res.stderr}`).toBe(1);
      expect(res.stderr).toContain(`listing s3://${s3.bucket}/etcd/default/`);
      expect(res.stderr).toContain(`"${key().replace('\n', '\\x0a')}", which is not in the folder asked for`);
      expect(res.stderr).toContain(proxy.endpoint);
    }
    expect(proxy.ops('DeleteObject')).toEqual([]);
    expect(proxy.ops('GetObject').slice(gets).filter((r) => !r.url.startsWith(`/${s3.bucket}/etcd/default/`))).toEqual([]);
    expect(await otherClusterFiles()).toEqual(before);
  } finally {
    proxy.rewriteListing = undefined;
  }
});

it('the same listing under a backup\'s retention and a delete: the backup is stored, nothing is deleted, exit 1', async () => {
  const before = await otherClusterFiles();
  const listed = await runCli(['list', '--json'], env());
  const [oldest] = (JSON.parse(listed.stdout) as { id: string }[]).map((b) => b.id).sort();
  proxy.rewriteListing = (xml, prefix) => (prefix === 'etcd/default/' ? withKey(xml, `etcd/bbbbbbb/${other.artifact}`) : xml);
  try {
    const deletes = proxy.ops('DeleteObject').length;
    const backup = await runCli(['backup'], env({ RS_RETENTION_KEEP_LAST: '1' }));
    expect(backup.code, backup.stderr).toBe(1);
    expect(backup.stderr).toMatch(/reshifter: backup \S+ is stored, but the retention after it failed: listing s3:\/\/\S+\/etcd\/default\/: .*etcd\/bbbbbbb\//);
    const del = await runCli(['delete', oldest!, '--force'], env());
    expect(del.code, del.stderr).toBe(1);
    expect(del.stderr).toContain('which is not in the folder asked for');
    expect(proxy.ops('DeleteObject').slice(deletes)).toEqual([]);
    expect(await otherClusterFiles()).toEqual(before);
  } finally {
    proxy.rewriteListing = undefined;
  }
});

it('a listing of the clusters naming a folder outside the store: list --all-clusters fails naming it, nothing is read there', async () => {
  proxy.rewriteListing = (xml, prefix) =>
    prefix === 'etcd/' ? xml.replace('</ListBucketResult>', '<CommonPrefixes><Prefix>etcd/../secret/</Prefix></CommonPrefixes></ListBucketResult>') : xml;
  try {
    const lists = proxy.ops('ListObjects').length;
    const res = await runCli(['list', '--all-clusters'], env());
    expect(res.code, res.stderr).toBe(1);
    expect(res.stderr).toContain(`listing s3://${s3.bucket}/etcd/: the S3 server (RS_S3_ENDPOINT=${proxy.endpoint}) listed "etcd/../secret", which is not in the folder asked for`);
    expect(proxy.ops('ListObjects').slice(lists).filter((r) => !new URL(r.url, 'http://x').searchParams.get('prefix')?.startsWith('etcd/'))).toEqual([]);
  } finally {
    proxy.rewriteListing = undefined;
  }
});
