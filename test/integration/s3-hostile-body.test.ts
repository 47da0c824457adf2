import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { startS3, type TestS3 } from '../helpers/s3.js';
import { startS3Proxy, type S3Proxy } from '../helpers/s3-proxy.js';

/**
 * An S3 endpoint whose GetObject of an artifact is not the artifact (a compromised MinIO, a misbehaving proxy): fewer
 * bytes than the Content-Length it sent, then the connection dropped; or another backup's bytes. verify and restore
 * must fail naming the object, leave nothing in the work area and leave the target (a data dir, etcd's keys) as it
 * was. The test proxy in front of s3rver stands in for that endpoint (s3rver serves what it stores); the backups are
 * real ones of a real etcd.
 */
let etcd: TestEtcd;
let s3: TestS3;
let proxy: S3Proxy;
let work: string;
const backups: Record<'snapshot' | 'raw' | 'other', { id: string; artifact: string }> = {} as never;

const env = (extra: Record<string, string> = {}) => ({
  ...s3.env, RS_S3_ENDPOINT: proxy.endpoint, RS_ETCD_ENDPOINTS: etcd.endpoint, RS_COMPRESSION: 'none', RS_S3_RETRY_WINDOW: '1s', RS_TMP_DIR: work, ...extra,
});

beforeAll(async () => {
  etcd = await startEtcd();
  s3 = await startS3();
  proxy = await startS3Proxy(s3.endpoint);
  work = await mkdtemp(join(tmpdir(), 'rs-hostile-body-'));
  await etcd.ctl(['put', '/registry/secrets/default/db', 'password']);
  for (const [name, strategy] of [['other', 'snapshot'], ['snapshot', 'snapshot'], ['raw', 'raw']] as const) {
    const res = await runCli(['backup', '--json', '--strategy', strategy], env());
    expect(res.code, res.stderr).toBe(0);
    backups[name] = JSON.parse(res.stdout) as { id: string; artifact: string };
    await etcd.ctl(['put', '/registry/secrets/default/db', `after-${name}`]);
  }
});
afterAll(async () => {
  await proxy?.close();
  await s3?.stop();
  await etcd?.stop();
  await rm(work, { recursive: true, force: true });
});

const FAULTS = {
  'fewer bytes than its Content-Length': (body: Buffer) => ({ body: body.subarray(0, body.length >> 1), contentLength: body.length }),
  'bytes of another object': (_: Buffer, other: Buffer) => ({ body: other }),
} as const;
/** What each fault is refused as (another snapshot is as long as this one; a snapshot is longer than a key dump). */
const SAID: Record<keyof typeof FAULTS, RegExp> = {
  'fewer bytes than its Content-Length': /the download broke off after \d+ bytes/,
  'bytes of another object': /sha256: .*hash to [0-9a-f]{64}, (its )?manifest says|size: .*holds more than the \d+ bytes its manifest says/,
};

it.each(Object.keys(FAULTS) as (keyof typeof FAULTS)[])('an artifact read as %s: verify and restore fail naming it, nothing left or written', async (fault) => {
  let other: Buffer = Buffer.alloc(0);
  proxy.rewriteObject = (key, body) => {
    if (key.endsWith(backups.other.artifact)) other = body;
    if (key.endsWith('.json') || key.endsWith(backups.other.artifact)) return undefined;
    return FAULTS[fault](body, other);
  };
  try {
    expect((await runCli(['verify', backups.other.id], env())).code).toBe(0);
    const dataDir = join(work, 'restored');
    for (const [m, args] of [
      [backups.snapshot, ['verify', backups.snapshot.id]],
      [backups.snapshot, ['restore', backups.snapshot.id, '--data-dir', dataDir]],
      [backups.raw, ['verify', backups.raw.id]],
      [backups.raw, ['restore', backups.raw.id]],
    ] as const) {
      const res = await runCli([...args], env());
      expect(res.code, `${args.join(' ')}: ${res.stderr}`).toBe(1);
      expect(res.stderr, args.join(' ')).toContain(`s3://${s3.bucket}/default/${m.artifact}`);
      expect(res.stderr, args.join(' ')).toMatch(SAID[fault]);
      expect(await readdir(work), args.join(' ')).toEqual([]);
    }
    expect((await etcd.ctl(['get', '--print-value-only', '/registry/secrets/default/db'])).trim()).toBe('after-raw');
  } finally {
    proxy.rewriteObject = undefined;
  }
});

// Found by a hostile-endpoint pass (2026-12-08): a download that broke off was asked for again from the byte where it
// stopped, and whatever the server answered was spliced in after the bytes already read: a server (or a proxy) that
// ignores Range sends the whole object again, and verify then blamed the stored backup ('holds more than the N bytes
// its manifest says'). The proxy stands in for that server: it cuts the first answer and drops the resume's Range.
it('a resumed download answered with the whole object, not the rest asked for: refused naming the object and the answer', async () => {
  let cut = false;
  proxy.rewriteObject = (key, body) => {
    if (!key.endsWith(backups.snapshot.artifact) || cut) return undefined;
    cut = true;
    return { body: body.subarray(0, body.length >> 1), contentLength: body.length };
  };
  proxy.rewriteRequest = ({ op, headers }) => (op === 'GetObject' ? Object.fromEntries(Object.entries(headers).filter(([name]) => name !== 'range')) : undefined);
  try {
    const res = await runCli(['verify', backups.snapshot.id], env({ RS_S3_RETRY_WINDOW: '30s' }));
    expect(res.code, res.stderr).toBe(1);
    expect(res.stderr).toMatch(/S3 download broke off; resuming/);
    expect(res.stderr).toContain(`s3://${s3.bucket}/default/${backups.snapshot.artifact}: the download broke off after`);
    expect(res.stderr).toMatch(/asked for again from there, but the S3 server answered with no Content-Range/);
    expect(res.stderr).not.toMatch(/holds more than|sha256/);
    expect(await readdir(work)).toEqual([]);
  } finally {
    proxy.rewriteObject = undefined;
    proxy.rewriteRequest = undefined;
  }
});
