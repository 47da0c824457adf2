import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gunzipSync, gzipSync } from 'node:zlib';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import { loadDataset } from '../../src/demo/load-dataset.js';
import { sampleDataset } from '../../src/demo/sample-data.js';
import { fnv1a64 } from '../../src/snapshot/fnv.js';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { runInProcess } from '../helpers/in-process.js';
import { startS3, type TestS3 } from '../helpers/s3.js';
import { parseGetJson, type CtlKeyValue } from '../unit/snapshot/etcdctl-json.js';

/**
 * `inspect` and the snapshot walk of `verify`, on snapshot backups taken by `reshifter backup` of a real etcd:
 * status against `etcdctl snapshot status -w json` of the same decoded file, keys against the live etcd.
 */
const run = promisify(execFile);
const CTL_ENV = { ...process.env, ETCDCTL_API: '3' };

interface CtlStatus {
  hash: number;
  revision: number;
  totalKey: number;
  totalSize: number;
}
interface Inspected extends CtlStatus {
  source: { kind: string };
  trailer: { present: boolean; match?: boolean };
}
interface KeyRow {
  key: string;
  keyBase64?: string;
  size: number;
  modRevision: number;
  createRevision: number;
  version: number;
  lease?: string;
  kind?: string;
  namespace?: string;
  name?: string;
  encoding: string;
}

let etcd: TestEtcd;
let s3: TestS3;
let work: string;
let store: string;
let local: Manifest;
let onS3: Manifest;
/** The decoded snapshot of `local` (with its trailer). */
let localDb: string;
/** A revision after the compaction, before the last changes. */
let olderRevision: number;
let compactedAt: number;

// gzip: storeSnapshot writes gzip artifacts beside the backups these make.
const localEnv = () => ({ RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: store, RS_COMPRESSION: 'gzip' });
const s3Env = () => ({ RS_ETCD_ENDPOINTS: etcd.endpoint, ...s3.env, RS_S3_PREFIX: 'snaps', RS_COMPRESSION: 'gzip' });

async function ctlStatus(file: string): Promise<CtlStatus> {
  return JSON.parse((await run('etcdctl', ['snapshot', 'status', '-w', 'json', file], { env: CTL_ENV })).stdout) as CtlStatus;
}

function statusOf(i: Inspected): CtlStatus {
  return { hash: i.hash, revision: i.revision, totalKey: i.totalKey, totalSize: i.totalSize };
}

const keyBytes = (r: KeyRow) => (r.keyBase64 !== undefined ? Buffer.from(r.keyBase64, 'base64') : Buffer.from(r.key));

async function liveKeys(prefix: string, revision: number): Promise<CtlKeyValue[]> {
  return parseGetJson(await etcd.ctl(['get', prefix, '--prefix', '--rev', String(revision), '-w', 'json'])).kvs;
}

/**
 * Stores `db` (a bbolt file, without trailer) as a new snapshot backup next to `local`: etcd's trailer and the
 * manifest's sha256 and size are made right, so only reading the pages can find what is wrong with it.
 */
async function storeSnapshot(db: Buffer, idSuffix: string, secondsLater: number): Promise<string> {
  const content = Buffer.concat([db, createHash('sha256').update(db).digest()]);
  const stored = gzipSync(content);
  const id = local.id.replace(/-[0-9a-f]+$/, `-${idSuffix}`);
  const artifact = `${id}${local.artifact.slice(local.id.length)}`;
  const m: Manifest = {
    ...local,
    id,
    artifact,
    createdAt: new Date(Date.parse(local.createdAt) + secondsLater * 1000).toISOString(),
    sha256: createHash('sha256').update(stored).digest('hex'),
    sizeBytes: stored.length,
    rawSizeBytes: content.length,
  };
  await writeFile(join(store, local.cluster, artifact), stored);
  await writeFile(join(store, local.cluster, `${id}.manifest.json`), `${JSON.stringify(m, null, 2)}\n`);
  return id;
}

beforeAll(async () => {
  [etcd, s3] = await Promise.all([startEtcd(), startS3()]);
  work = await mkdtemp(join(tmpdir(), 'rs-inspect-'));
  store = join(work, 'store');
  const client = new Etcd3({ hosts: etcd.endpoint });
  try {
    await loadDataset(client, sampleDataset({ namespaces: 3, podsPerNamespace: 6, edgeCases: true }));
    // Overwrites, deletes and a compaction: the snapshot holds old revisions and tombstones.
    await client.put('/registry/configmaps/team-1/overwritten').value('one');
    await client.put('/registry/configmaps/team-1/overwritten').value('two');
    await client.put('/registry/configmaps/team-2/deleted').value('gone soon');
    compactedAt = Number((await client.put('/registry/configmaps/default/marker').value('m').exec()).header.revision);
    await etcd.ctl(['compact', String(compactedAt)]);
    olderRevision = Number((await client.put('/registry/configmaps/team-1/overwritten').value('three').exec()).header.revision);
    await client.delete().key('/registry/configmaps/team-2/deleted').exec();
    await client.put('/registry/configmaps/team-1/overwritten').value('four');
  } finally {
    client.close();
  }
  const [a, b] = await Promise.all([runCli(['backup', '--json'], localEnv()), runCli(['backup', '--json'], s3Env())]);
  expect(a.code, a.stderr).toBe(0);
  expect(b.code, b.stderr).toBe(0);
  local = JSON.parse(a.stdout) as Manifest;
  onS3 = JSON.parse(b.stdout) as Manifest;
  expect(local).toMatchObject({ strategy: 'snapshot', compression: 'gzip', contentType: 'etcd-snapshot' });
  localDb = join(work, 'local.db');
  await writeFile(localDb, gunzipSync(await readFile(join(store, local.cluster, local.artifact))));
});

afterAll(async () => {
  await Promise.all([etcd?.stop(), s3?.stop(), work && rm(work, { recursive: true, force: true })]);
});

/** The snapshot of `localDb` grown past 16 MiB with free pages (both meta pages say so), with a trailer over it all. */
async function grownSnapshot(): Promise<{ big: string; grown: Buffer; pages: number; pageSize: number }> {
  // The same database grown past 16 MiB with free pages: both meta pages say so, the trailer covers it all.
  const db = (await readFile(localDb)).subarray(0, -32);
  const pageSize = db.readUInt32LE(24);
  const pages = Math.ceil((17 * 1024 * 1024) / pageSize);
  const grown = Buffer.concat([db, Buffer.alloc(pages * pageSize - db.length)]);
  for (const at of [0, pageSize]) {
    grown.writeBigUInt64LE(BigInt(pages), at + 56);
    grown.writeBigUInt64LE(fnv1a64(grown.subarray(at + 16, at + 72)), at + 72);
  }
  const big = join(work, 'big.db');
  await writeFile(big, Buffer.concat([grown, createHash('sha256').update(grown).digest()]));
  return { big, grown, pages, pageSize };
}

/** The built CLI under the launcher's V8 flags (dist/main.js's first line), with NODE_DEBUG_NATIVE set to `debug`. */
async function launched(args: string[], debug: string): Promise<{ stdout: string; stderr: string }> {
  const flags = (await readFile(new URL('../../dist/main.js', import.meta.url), 'utf8')).split('\n')[0]!.split(/\s+/).slice(3);
  expect(flags).toContain('--initial-old-space-size=64');
  const main = fileURLToPath(new URL('../../dist/main.js', import.meta.url));
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', NODE_DEBUG_NATIVE: debug };
  return run(process.execPath, [...flags, main, ...args], { env, encoding: 'utf8' });
}

describe('inspect status', () => {
  it('of a local backup equals etcdctl snapshot status of the same decoded file, trailer present and matching', async () => {
    const res = await runCli(['inspect', local.id, '--json'], localEnv());
    expect(res.code, res.stderr).toBe(0);
    const got = JSON.parse(res.stdout) as Inspected;
    expect(statusOf(got)).toEqual(await ctlStatus(localDb));
    expect(got.trailer).toEqual({ present: true, match: true });
    expect(got.source).toMatchObject({ kind: 'backup', id: local.id });
    expect(got.revision).toBeGreaterThanOrEqual(local.etcd!.revision);
    // The text form shows the same numbers, hash in hex as etcdctl's table does.
    const text = await runInProcess(['inspect', 'latest'], localEnv());
    expect(text.stdout).toContain(`hash:       ${got.hash.toString(16)} (${got.hash})`);
    expect(text.stdout).toContain(`revision:   ${got.revision}`);
    expect(text.stdout).toMatch(/sha256:\s+present, matches/);
  });

  it('of an S3 backup equals etcdctl snapshot status of the object, decoded', async () => {
    const client = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
    const obj = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: `snaps/${onS3.cluster}/${onS3.artifact}` }));
    const file = join(work, 's3.db');
    await writeFile(file, gunzipSync(Buffer.from(await obj.Body!.transformToByteArray())));
    client.destroy();
    const res = await runInProcess(['inspect', onS3.id, '--json'], s3Env());
    expect(res.code, res.stderr).toBe(0);
    const got = JSON.parse(res.stdout) as Inspected;
    expect(statusOf(got)).toEqual(await ctlStatus(file));
    expect(got.trailer).toEqual({ present: true, match: true });
  });

  it('of a raw file without the trailer, and of one whose trailer does not match', async () => {
    const db = await readFile(localDb);
    const bare = join(work, 'bare.db');
    await writeFile(bare, db.subarray(0, db.length - 32));
    const res = await runInProcess(['inspect', bare, '--json'], {});
    expect(res.code, res.stderr).toBe(0);
    const got = JSON.parse(res.stdout) as Inspected;
    expect(statusOf(got)).toEqual(await ctlStatus(bare));
    expect(statusOf(got)).toEqual(await ctlStatus(localDb));
    expect(got.trailer).toEqual({ present: false });
    expect(got.source).toEqual({ kind: 'file', path: bare });

    const badTrailer = join(work, 'bad-trailer.db');
    const copy = Buffer.from(db);
    copy[copy.length - 1]! ^= 0xff;
    await writeFile(badTrailer, copy);
    const bad = JSON.parse((await runInProcess(['inspect', badTrailer, '--json'], {})).stdout) as Inspected;
    expect(bad.trailer).toEqual({ present: true, match: false });
  });

  it('of a file loads no logger, as it logs nothing on success; a failure still logs its JSON line', async () => {
    // pino and its modules were ~20 ms of every `inspect FILE` (issue #16). NODE_DEBUG=module names each CommonJS module
    // Node loads (pino is one), so the failing case below shows the check can see it.
    const ok = await runCli(['inspect', localDb, '--json'], { NODE_DEBUG: 'module' });
    expect(ok.code, ok.stderr).toBe(0);
    expect(statusOf(JSON.parse(ok.stdout) as Inspected)).toEqual(await ctlStatus(localDb));
    expect(ok.stderr).not.toMatch(/node_modules\/pino\//);
    const damaged = join(work, 'not-a-snapshot.db');
    await writeFile(damaged, Buffer.alloc(8192, 7));
    const failed = await runCli(['inspect', damaged, '--json'], { NODE_DEBUG: 'module' });
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/node_modules\/pino\//);
    const line = failed.stderr.split('\n').find((l) => l.startsWith('{"level":"error"'));
    expect(JSON.parse(line!)).toMatchObject({ level: 'error', name: 'reshifter', command: 'inspect', exitCode: 1, msg: 'command failed' });
  });

  it('of a file big enough to hash its trailer on a worker thread (started before the reader loads)', async () => {
    const { big, grown, pages, pageSize } = await grownSnapshot();
    const res = await runCli(['inspect', big, '--json'], {});
    expect(res.code, res.stderr).toBe(0);
    const got = JSON.parse(res.stdout) as Inspected;
    expect(statusOf(got)).toEqual(await ctlStatus(big));
    expect(got.totalSize).toBe(pages * pageSize);
    expect(got.trailer).toEqual({ present: true, match: true });
    // A changed byte in a free page: the same status, and a trailer that no longer matches.
    grown[grown.length - 1] = 1;
    await writeFile(big, Buffer.concat([grown, createHash('sha256').update(grown.subarray(0, -1)).digest()]));
    const changed = JSON.parse((await runCli(['inspect', big, '--json'], {})).stdout) as Inspected;
    expect(statusOf(changed)).toEqual(statusOf(got));
    expect(changed.trailer).toEqual({ present: true, match: false });
  });

  it("of a big file under the launcher's V8 flags: its hashing thread starts from Node's code cache, its modules from the build's", async () => {
    // --initial-old-space-size (the launcher's line) changes the hash of V8's flags: the worker compiled all of Node's
    // own modules from source (~25 ms of CPU before the first chunk was hashed, issue #16). NODE_DEBUG_NATIVE names
    // each built-in module and whether its code cache was taken, and each of ours taken from dist/compile-cache.
    const { big } = await grownSnapshot();
    const res = await launched(['inspect', big, '--json'], 'CODE_CACHE,COMPILE_CACHE');
    expect(statusOf(JSON.parse(res.stdout) as Inspected)).toEqual(await ctlStatus(big));
    // Node's bootstrap of a worker thread, and node:crypto, which it hashes with.
    expect(res.stderr).toMatch(/Code cache of internal\/main\/worker_thread \S+ is accepted/);
    expect(res.stderr).not.toMatch(/Code cache of internal\/crypto\/hash \S+ is rejected/);
    expect(res.stderr).toMatch(/V8 code cache for ESM file:\/\/\S+\/dist\/commands\/inspect\.js was accepted/);
    expect(res.stderr).toMatch(/V8 code cache for ESM file:\/\/\S+\/dist\/snapshot\/page-scan\.js was accepted/);
  });

  it('of a big file starts its hashing thread before node:crypto loads on the main thread', async () => {
    // The thread's start (~30 ms) is what the first hashed chunk waits for: it no longer waits for the ~5 ms of
    // node:crypto (its sink's module), which now loads with the CLI, beside the thread's start. NODE_DEBUG_NATIVE
    // names each built-in module as it is compiled: worker_threads before crypto.
    const { big } = await grownSnapshot();
    const res = await launched(['inspect', big, '--json'], 'CODE_CACHE');
    expect(statusOf(JSON.parse(res.stdout) as Inspected)).toEqual(await ctlStatus(big));
    const workers = res.stderr.indexOf('Compiling worker_threads ');
    expect(workers).toBeGreaterThanOrEqual(0);
    expect(res.stderr.indexOf('Compiling crypto ')).toBeGreaterThan(workers);
  });

  it('of a snapshot gzip- or zstd-compressed or age-encrypted by the operator: decoded in the work area, then as the bare file', async () => {
    const want = await ctlStatus(localDb);
    const gz = join(work, 'operator.db.gz');
    await writeFile(gz, gzipSync(await readFile(localDb)));
    const zst = join(work, 'operator.db.zst');
    await run('zstd', ['-q', '-f', '-3', localDb, '-o', zst]);
    const identityFile = join(work, 'operator-key.txt');
    await run('age-keygen', ['-o', identityFile]);
    const recipient = /age1[0-9a-z]+/.exec(await readFile(identityFile, 'utf8'))![0];
    const age = join(work, 'operator.db.zst.age');
    await run('age', ['-r', recipient, '-o', age, zst]);
    const area = await mkdtemp(join(work, 'area-'));
    for (const [file, env] of [[gz, {}], [zst, {}], [age, { RS_ENCRYPTION_IDENTITY_FILE: identityFile }]] as const) {
      const res = await runInProcess(['inspect', file, '--json'], { ...env, RS_TMP_DIR: area });
      expect(res.code, `${file}: ${res.stderr}`).toBe(0);
      const got = JSON.parse(res.stdout) as Inspected;
      expect(statusOf(got)).toEqual(want);
      expect(got.trailer).toEqual({ present: true, match: true });
      expect(got.source).toEqual({ kind: 'file', path: file });
    }
    // The keys too, and no decoded copy is left behind.
    const keys = await runInProcess(['inspect', zst, '--keys', '--json'], { RS_TMP_DIR: area });
    expect(keys.code, keys.stderr).toBe(0);
    const bareKeys = await runInProcess(['inspect', localDb, '--keys', '--json'], {});
    expect(keys.stdout.trim().split('\n').length).toBeGreaterThan(10);
    expect(keys.stdout).toBe(bareKeys.stdout);
    expect(await readdir(area)).toEqual([]);

    // Without the identity (a setting missing: exit 2), cut short, or a zip that does not read (exit 1): named,
    // nothing left.
    const locked = await runInProcess(['inspect', age], { RS_TMP_DIR: area });
    expect(locked.code).toBe(2);
    expect(locked.stderr).toContain(`${age} is encrypted with age: set RS_ENCRYPTION_IDENTITY_FILE`);
    const cut = join(work, 'cut.db.zst');
    const zstBytes = await readFile(zst);
    await writeFile(cut, zstBytes.subarray(0, zstBytes.length >> 1));
    const short = await runInProcess(['inspect', cut], { RS_TMP_DIR: area });
    expect(short.code).toBe(1);
    expect(short.stderr).toMatch(/decompress: .*cut\.db\.zst: .*cut off/);
    const cutGz = join(work, 'cut.db.gz');
    const gzBytes = await readFile(gz);
    await writeFile(cutGz, gzBytes.subarray(0, gzBytes.length >> 1));
    const shortGz = await runInProcess(['inspect', cutGz], { RS_TMP_DIR: area });
    expect(shortGz.code).toBe(1);
    expect(shortGz.stderr).toMatch(/cut\.db\.gz does not decompress: unexpected end of file/);
    const zip = join(work, 'on-demand.zip');
    await writeFile(zip, Buffer.concat([Buffer.from('PK\x03\x04', 'latin1'), Buffer.alloc(100)]));
    const zipped = await runInProcess(['inspect', zip], { RS_TMP_DIR: area });
    expect(zipped.code).toBe(1);
    expect(zipped.stderr).toContain(`${zip} is not a readable zip archive (cut or damaged?)`);
    expect(await readdir(area)).toEqual([]);
  });

  it('names what is wrong with a file that is no snapshot, and a backup id that does not exist', async () => {
    const junk = join(work, 'junk.db');
    await writeFile(junk, Buffer.alloc(8192, 7));
    const res = await runInProcess(['inspect', junk], {});
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/snapshot: .*junk\.db is not a readable etcd snapshot/);
    const missing = await runInProcess(['inspect', '20200101T000000.000Z-abcdef'], localEnv());
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/20200101T000000\.000Z-abcdef/);
  });
});

describe('inspect --keys / --get / --raw', () => {
  it('lists the live keys at the snapshot revision as the live etcd has them', async () => {
    const status = JSON.parse((await runInProcess(['inspect', local.id, '--json'], localEnv())).stdout) as Inspected;
    const res = await runInProcess(['inspect', local.id, '--keys', '--json'], localEnv());
    expect(res.code, res.stderr).toBe(0);
    const rows = (JSON.parse(res.stdout) as { keys: KeyRow[] }).keys;
    const live = parseGetJson(await etcd.ctl(['get', '', '--from-key', '--rev', String(status.revision), '-w', 'json'])).kvs;
    expect(live.length).toBeGreaterThan(40);
    expect(rows.map((r) => ({ key: keyBytes(r).toString('base64'), size: r.size, mod: r.modRevision, create: r.createRevision, version: r.version, lease: r.lease ?? '0' })))
      .toEqual(live.map((kv) => ({ key: kv.key.toString('base64'), size: kv.value.length, mod: kv.modRevision, create: kv.createRevision, version: kv.version, lease: kv.lease.toString() })));
    const pod = rows.find((r) => r.key.startsWith('/registry/pods/team-1/'))!;
    expect(pod).toMatchObject({ kind: 'Pod', namespace: 'team-1', encoding: 'protobuf' });
    expect(rows.some((r) => r.lease !== undefined)).toBe(true);
  });

  it('--keys --json names the revision it lists, without --revision: the snapshot\'s own (found by an operator pass: it was null)', async () => {
    // etcdctl's status of the very file: a stored snapshot may be past the revision its manifest names (read before it).
    const { revision } = await ctlStatus(localDb);
    expect(revision).toBeGreaterThanOrEqual(local.etcd!.revision);
    for (const [target, env] of [[local.id, localEnv()], ['latest', localEnv()], [localDb, {}]] as const) {
      const res = await runInProcess(['inspect', target, '--keys', '--json', '--prefix', '/registry/configmaps/'], env);
      expect(res.code, res.stderr).toBe(0);
      expect(res.stdout.split('\n')[0]).toBe(`{"revision":${revision},"prefix":"/registry/configmaps/","keys":[`);
      expect((JSON.parse(res.stdout) as { revision: number }).revision).toBe(revision);
      // The table's stdout stays rows under its column head; the log names the same revision.
      const text = await runCli(['inspect', target, '--keys', '--prefix', '/registry/configmaps/'], env);
      expect(text.code, text.stderr).toBe(0);
      expect(text.stdout.split('\n')[0]).toBe('KEY\tMODREV\tSIZE\tKIND\tNAMESPACE\tNAME\tENCODING');
      expect(text.stderr).toContain(` at revision ${revision}"`);
    }
    // Asked for one, it is that one.
    const older = await runInProcess(['inspect', localDb, '--keys', '--json', '--revision', String(olderRevision)], {});
    expect((JSON.parse(older.stdout) as { revision: number }).revision).toBe(olderRevision);
  });

  it('lists an older revision under a prefix, and refuses a compacted one', async () => {
    const res = await runInProcess(['inspect', local.id, '--keys', '--json', '--prefix', '/registry/configmaps/', '--revision', String(olderRevision)], localEnv());
    expect(res.code, res.stderr).toBe(0);
    const rows = (JSON.parse(res.stdout) as { keys: KeyRow[] }).keys;
    const live = await liveKeys('/registry/configmaps/', olderRevision);
    // By bytes: a key that is not UTF-8 (bin-\x00\xff\xfe\x80) has its printed form in `key`, its bytes in keyBase64.
    expect(rows.map((r) => [keyBytes(r).toString('hex'), r.modRevision, r.size])).toEqual(live.map((kv) => [kv.key.toString('hex'), kv.modRevision, kv.value.length]));
    expect(rows.map((r) => r.key)).toContain('/registry/configmaps/default/bin-\\x00\\xff\\xfe\\x80');
    expect(rows.map((r) => r.key)).toContain('/registry/configmaps/team-2/deleted');

    const text = await runInProcess(['inspect', local.id, '--keys', '--prefix', '/registry/configmaps/team-1/'], localEnv());
    expect(text.stdout.split('\n')[0]).toBe('KEY\tMODREV\tSIZE\tKIND\tNAMESPACE\tNAME\tENCODING');
    expect(text.stdout).toMatch(/^\/registry\/configmaps\/team-1\/overwritten\t\d+\t4\t/m);

    const compacted = await runInProcess(['inspect', local.id, '--keys', '--revision', String(compactedAt - 5)], localEnv());
    expect(compacted.code).toBe(1);
    expect(compacted.stderr).toMatch(/compacted/);
    expect(compacted.stdout).toBe('');
  });

  it('--get prints the decoded metadata of one value, --raw its bytes; a missing key fails', async () => {
    const [kv] = parseGetJson(await etcd.ctl(['get', '/registry/pods/team-2/', '--prefix', '--limit', '1', '-w', 'json'])).kvs;
    const key = kv!.key.toString();
    const res = await runInProcess(['inspect', local.id, '--get', key], localEnv());
    expect(res.code, res.stderr).toBe(0);
    const got = JSON.parse(res.stdout) as { key: string; modRevision: number; size: number; kind: string; encoding: string; metadata: { name: string; namespace: string; uid: string } };
    expect(got).toMatchObject({ key, modRevision: kv!.modRevision, size: kv!.value.length, kind: 'Pod', encoding: 'protobuf' });
    expect(got.metadata.namespace).toBe('team-2');
    expect(got.metadata.name).toBe(key.split('/').pop());

    const raw = await runInProcess(['inspect', local.id, '--get', key, '--raw'], localEnv());
    expect(raw.code, raw.stderr).toBe(0);
    expect(Buffer.from(raw.stdout, 'latin1').equals(kv!.value)).toBe(true);

    const older = await runInProcess(['inspect', localDb, '--get', '/registry/configmaps/team-1/overwritten', '--raw', '--revision', String(olderRevision)], {});
    expect(older.stdout).toBe('three');

    const missing = await runCli(['inspect', localDb, '--get', '/registry/pods/team-2/nope'], {});
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/key "\/registry\/pods\/team-2\/nope" is not in/);
    const usage = await runInProcess(['inspect', localDb, '--raw'], {});
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--raw .* --get KEY/);
  });

  it('--render prints the audit listing of the render strategy, filters applied', async () => {
    const res = await runInProcess(['inspect', local.id, '--render', '--json'], { ...localEnv(), RS_INCLUDE_NAMESPACES: 'team-1' });
    expect(res.code, res.stderr).toBe(0);
    const rows = res.stdout.trim().split('\n').map((l) => JSON.parse(l) as KeyRow);
    const live = (await liveKeys('/registry/', 0)).filter((kv) => {
      const parts = kv.key.toString().split('/');
      return (parts[2] === 'namespaces' && parts[3] === 'team-1') || parts.includes('team-1');
    });
    expect(rows.length).toBeGreaterThan(5);
    expect(rows.map((r) => r.key).sort()).toEqual(live.map((kv) => kv.key.toString()).sort());
    expect(rows.every((r) => r.namespace === 'team-1' || r.name === 'team-1')).toBe(true);
  });
});

describe('verify walks a snapshot backup', () => {
  it('adds the structural checks of the whole file to a good backup', async () => {
    const res = await runInProcess(['verify', local.id, '--json'], localEnv());
    expect(res.code, res.stderr).toBe(0);
    const report = JSON.parse(res.stdout) as { ok: boolean; checks: Array<{ name: string; ok: boolean }> };
    const names = report.checks.map((c) => c.name);
    expect(names).toEqual(expect.arrayContaining(['sha256', 'content', 'snapshot meta page 0', 'snapshot meta page 1', 'snapshot pages', 'snapshot key order']));
    expect(report.ok).toBe(true);
  });

  it('fails, naming the check, on a damaged page inside a backup whose sha256 and trailer are right', async () => {
    const db = Buffer.from((await readFile(localDb)).subarray(0, -32));
    const pageSize = db.readUInt32LE(24);
    // Every leaf page with two or more elements: its first element's key pointed far outside the page. All of them,
    // because the first such page may be a free one (stale, unreachable), whose damage no walk can see.
    const damaged = new Set<number>();
    for (let id = 2; (id + 1) * pageSize <= db.length; id++) {
      const at = id * pageSize;
      if (db.readUInt16LE(at + 8) === 0x02 && db.readUInt16LE(at + 10) >= 2) {
        db.writeUInt32LE(0x7fff0000, at + 16 + 4);
        damaged.add(id);
      }
    }
    expect(damaged.size).toBeGreaterThan(0);
    const id = await storeSnapshot(db, 'dead01', 1);

    const res = await runInProcess(['verify', id, '--json'], localEnv());
    expect(res.code).toBe(1);
    const report = JSON.parse(res.stdout) as { ok: boolean; checks: Array<{ name: string; ok: boolean; detail: string }> };
    const byName = Object.fromEntries(report.checks.map((c) => [c.name, c]));
    // The stream checks pass: only the walk finds the damage.
    expect(byName.sha256!.ok).toBe(true);
    expect(byName.content!.ok).toBe(true);
    const failed = report.checks.filter((c) => !c.ok);
    expect(failed.length).toBeGreaterThan(0);
    expect(failed[0]!.name).toMatch(/^snapshot /);
    const named = [...failed.map((c) => c.detail).join(' ').matchAll(/page (\d+)/g)].map((m) => Number(m[1]));
    expect(named.some((p) => damaged.has(p)), `pages named: ${named.join(', ')}`).toBe(true);
    expect(res.stderr).toContain(`${failed[0]!.name}: backup ${id} failed verification`);
  });
});

describe('stats and diff of a damaged snapshot backup', () => {
  let damagedId: string;
  beforeAll(async () => {
    const db = Buffer.from((await readFile(localDb)).subarray(0, -32));
    const pageSize = db.readUInt32LE(24);
    // Every leaf page of the "key" bucket (keys are revisions: 8 bytes, "_", 8 bytes): its first element's key is
    // pointed far outside the page. The meta pages and the root bucket are intact, so the file opens.
    let pages = 0;
    for (let id = 2; (id + 1) * pageSize <= db.length; id++) {
      const at = id * pageSize;
      if (db.readUInt16LE(at + 8) !== 0x02 || db.readUInt16LE(at + 10) < 2) continue;
      const keyAt = at + 16 + db.readUInt32LE(at + 16 + 4);
      const keySize = db.readUInt32LE(at + 16 + 8);
      if ((keySize !== 17 && keySize !== 18) || keyAt + keySize > at + pageSize || db[keyAt + 8] !== 0x5f) continue;
      db.writeUInt32LE(0x7fff0000, at + 16 + 4);
      pages++;
    }
    expect(pages).toBeGreaterThan(0);
    damagedId = await storeSnapshot(db, 'dead02', 2);
  });

  const named = (stderr: string) => {
    expect(stderr).toContain(`backup ${damagedId} is not a readable etcd snapshot`);
    expect(stderr).not.toMatch(/unexpected|this is a bug/);
  };

  it('stats <id> fails naming the backup, not as an unexpected error', async () => {
    const res = await runCli(['stats', damagedId], localEnv());
    expect(res.code).toBe(1);
    named(res.stderr);
  });

  it('diff fails naming the damaged side, whichever side it is', async () => {
    const from = await runCli(['diff', damagedId, local.id], localEnv());
    expect(from.code).toBe(1);
    named(from.stderr);
    const to = await runCli(['diff', local.id, damagedId], localEnv());
    expect(to.code).toBe(1);
    named(to.stderr);
    // The good backup alone is fine: what failed is the damaged one.
    const good = await runCli(['diff', local.id, local.id, '--json'], localEnv());
    expect(good.code, good.stderr).toBe(0);
  });
});
