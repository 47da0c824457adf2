import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zstdDecompressSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi } from '../helpers/api.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { runInProcess } from '../helpers/in-process.js';

/**
 * An artifact a newer reshifter wrote (its header's version above the one this build reads: a store shared with a
 * newer runner, a rollback of the image) is refused naming the backup and its file and saying to upgrade. A key
 * dump's said only 'content: key dump: reshifter-dump.json is version 2; this reshifter reads version 1' in stats,
 * inspect, diff and restore: no backup, no file, and worded as damage.
 */
const FIXTURE = new URL('../fixtures/compat/v20261207-e8eff6b/', import.meta.url).pathname;
const DUMP = '20261207T220344.634Z-68289b'; // filter:secrets, uncompressed: reshifter-dump.json is readable in place
const BASE = '20261207T220342.874Z-a41155';
const SEGMENT = '20261207T220403.671Z-97691a'; // the second of the chain on BASE
const LISTING = '20261207T220344.139Z-2223dc'; // a render listing (zstd)

let etcd: TestEtcd;
let store: string;
let env: Record<string, string>;

/** Writes `artifact` for backup `id` with its manifest's size and sha256 (and compression none) made to match. */
async function rewrite(id: string, artifact: string, bytes: Buffer): Promise<void> {
  const file = join(store, 'compat', `${id}.manifest.json`);
  const m = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  await unlink(join(store, 'compat', m.artifact as string));
  Object.assign(m, { artifact, compression: 'none', sizeBytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });
  await writeFile(join(store, 'compat', artifact), bytes);
  await writeFile(file, JSON.stringify(m, null, 2));
}

/** `bytes` with the header's `"version": 1` made 2: the tar header's checksum covers no data, so it stays right. */
function newerVersion(bytes: Buffer): Buffer {
  const at = bytes.indexOf('"version": 1');
  expect(at).toBeGreaterThan(0);
  return Buffer.concat([bytes.subarray(0, at), Buffer.from('"version": 2'), bytes.subarray(at + 12)]);
}

beforeAll(async () => {
  etcd = await startEtcd();
  store = await mkdtemp(join(tmpdir(), 'rs-newer-artifacts-'));
  await cp(FIXTURE, join(store, 'compat'), { recursive: true });
  env = { RS_BACKUP_DIR: store, RS_CLUSTER_NAME: 'compat', RS_ETCD_ENDPOINTS: etcd.endpoint };
  await rewrite(DUMP, `${DUMP}.raw.tar`, newerVersion(await readFile(join(FIXTURE, `${DUMP}.raw.tar`))));
  const segment = zstdDecompressSync(await readFile(join(FIXTURE, `${SEGMENT}.delta.tar.zst`)));
  await rewrite(SEGMENT, `${SEGMENT}.delta.tar`, newerVersion(segment));
  // A newer reshifter's rows: another shape, and their listingVersion above 1.
  const rows = zstdDecompressSync(await readFile(join(FIXTURE, `${LISTING}.render.jsonl.zst`))).toString().split('\n').filter((l) => l !== '');
  await rewrite(LISTING, `${LISTING}.render.jsonl`, Buffer.from(rows.map((l) => `${JSON.stringify({ row: JSON.parse(l) as unknown, listingVersion: 2 })}\n`).join('')));
});
afterAll(async () => {
  await etcd?.stop();
  await rm(store, { recursive: true, force: true });
});

const NEWER = 'is version 2, written by a newer reshifter (this one reads version 1): upgrade reshifter to read it';

it('a key dump of a newer version: stats, inspect, diff and restore refuse it naming the backup, its file and to upgrade; nothing restored', async () => {
  for (const args of [['stats', DUMP], ['inspect', DUMP, '--keys'], ['diff', DUMP, BASE], ['restore', DUMP]]) {
    const res = await runInProcess(args, env);
    expect(res.code, args.join(' ')).toBe(1);
    expect(res.stderr, args.join(' ')).toContain(`backup ${DUMP} (${DUMP}.raw.tar): key dump: reshifter-dump.json ${NEWER}`);
  }
  expect(await etcd.ctl(['get', '', '--from-key', '--keys-only'])).toBe('');
  const verify = await runInProcess(['verify', DUMP], env);
  expect(verify.code).toBe(1);
  expect(verify.stderr).toContain(`backup ${DUMP} failed verification: key dump: reshifter-dump.json ${NEWER}`);
});

// Before: 'render listing, line 1: not a listing row', as if the listing were damaged.
it('a render listing of a newer version: stats and verify refuse it as a newer reshifter\'s, not as damage', async () => {
  const inspect = await runInProcess(['stats', LISTING], env);
  expect(inspect.code).toBe(1);
  expect(inspect.stderr).toContain(`render listing: line 1 ${NEWER}`);
  expect(inspect.stderr).not.toContain('not a listing row');
  const verify = await runInProcess(['verify', LISTING], env);
  expect(verify.code).toBe(1);
  expect(verify.stdout + verify.stderr).toContain(`render listing: line 1 ${NEWER}`);
});

it('a delta segment of a newer version: restore --to and verify --chain refuse it naming the segment and to upgrade', async () => {
  const restore = await runInProcess(['restore', BASE, '--to', 'latest', '--keys'], env);
  expect(restore.code).toBe(1);
  expect(restore.stderr).toContain(`backup ${SEGMENT} (${SEGMENT}.delta.tar): delta segment: reshifter-delta.json ${NEWER}`);
  expect(await etcd.ctl(['get', '', '--from-key', '--keys-only'])).toBe('');
  const verify = await runInProcess(['verify', BASE, '--chain'], env);
  expect(verify.code).toBe(1);
  expect(verify.stdout + verify.stderr).toContain(`reshifter-delta.json ${NEWER}`);
});

describe('a backup whose content type this version does not know (a newer reshifter wrote it)', () => {
  let newer: Record<string, string>;
  const OLDER = '20261207T220342.410Z-fbc6e0'; // the snapshot before BASE
  const TEXT = `backup ${BASE} (${BASE}.snapshot.db.gz) holds content type "etcd-snapshot-v2", which this build of reshifter does not know: written by a newer reshifter; read it with a build that knows that content type`;
  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rs-newer-kind-'));
    await cp(FIXTURE, join(dir, 'compat'), { recursive: true });
    const file = join(dir, 'compat', `${BASE}.manifest.json`);
    await writeFile(file, (await readFile(file, 'utf8')).replace('"contentType": "etcd-snapshot"', '"contentType": "etcd-snapshot-v2"'));
    newer = { ...env, RS_BACKUP_DIR: dir, RS_ENCRYPTION_IDENTITY_FILE: new URL('../fixtures/compat/age-identity.txt', import.meta.url).pathname };
  });
  afterAll(async () => {
    await rm(newer.RS_BACKUP_DIR!, { recursive: true, force: true });
  });

  it('by its id: every reader refuses it naming it, its file and to upgrade (it said "a snapshot listing ... cannot be restored", "a other"); verify checks its bytes', async () => {
    const file = join(newer.RS_BACKUP_DIR!, 'out.db');
    for (const args of [
      ['stats', BASE],
      ['inspect', BASE],
      ['inspect', BASE, '--keys'],
      ['diff', BASE, OLDER],
      ['restore', BASE, '--keys'],
      ['restore', BASE, '--snapshot-file', file],
      ['restore', BASE, '--to', 'latest', '--keys'],
      ['verify', BASE, '--chain'],
    ]) {
      const res = await runInProcess(args, newer);
      expect(res.code, args.join(' ')).toBe(1);
      expect(res.stderr, args.join(' ')).toContain(TEXT);
    }
    expect(await etcd.ctl(['get', '', '--from-key', '--keys-only'])).toBe('');
    const verify = await runInProcess(['verify', BASE], newer);
    expect(verify.code, verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(/skip\tcontent\tnot checked: content type "etcd-snapshot-v2"/);
  });

  it('the API refuses to restore it, naming it and to upgrade, and starts no job', async () => {
    const api = await startApi({ ...newer, RS_API_TOKEN: 'a'.repeat(32) });
    try {
      const res = await api.call('/api/v1/restores', { method: 'POST', token: 'a'.repeat(32), json: { backupId: BASE, dryRun: true } });
      const body = (await res.json()) as { error?: string };
      expect(res.status, JSON.stringify(body)).toBe(409);
      expect(body.error).toContain(TEXT);
      expect(api.jobs.list()).toHaveLength(0);
    } finally {
      await api.stop();
    }
  });

  it('latest past it is refused, naming it and the older id to give: restore latest --keys would have restored the older snapshot, --to latest revision 31 of 40 recorded', async () => {
    for (const args of [['inspect', 'latest'], ['restore', 'latest', '--keys'], ['restore', 'latest', '--data-dir', join(newer.RS_BACKUP_DIR!, 'dd')]]) {
      const res = await runInProcess(args, newer);
      expect(res.code, args.join(' ')).toBe(1);
      expect(res.stderr, args.join(' ')).toContain(`"latest" would be backup ${OLDER}, but this version cannot read a newer one: ${TEXT}. Give the id ${OLDER} instead of "latest"`);
    }
    const to = await runInProcess(['restore', 'latest', '--to', 'latest', '--keys'], newer);
    expect(to.code).toBe(1);
    expect(to.stderr).toContain(`--to latest would restore revision 31 (backup ${OLDER}), but this version cannot read a newer backup: ${TEXT}. Give --to 31`);
    expect(await etcd.ctl(['get', '', '--from-key', '--keys-only'])).toBe('');
    await runInProcess(['restore', OLDER, '--keys'], newer).then((r) => expect(r.code, r.stderr).toBe(0));
  });
});
