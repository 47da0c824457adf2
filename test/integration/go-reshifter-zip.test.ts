import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { randomBytes } from 'node:crypto';
import { BlockReader } from '../../src/archive/block-reader.js';
import { openGoReshifterZip } from '../../src/archive/go-reshifter-zip.js';
import { loadConfig } from '../../src/config/load-config.js';
import { createLogger } from '../../src/log.js';
import type { OpContext } from '../../src/ops/context.js';
import { restoreGoZipKeys, type KeyRestoreReport } from '../../src/ops/restore-keys.js';
import { fileStats } from '../../src/ops/stats.js';
import { verifyGoZipFile } from '../../src/ops/verify.js';
import { goZipKeysInput } from '../../src/ops/go-zip-keys-input.js';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { writeGoReshifterZip } from '../helpers/go-reshifter-zip.js';
import { startS3, type TestS3 } from '../helpers/s3.js';

/**
 * Backups of the Go Reshifter (`<unix-seconds>.zip`, see src/archive/go-reshifter-zip.ts) restored into a real etcd
 * by `reshifter restore FILE.zip`, as a key dump's keys. The zips are written as the Go code wrote them
 * (test/helpers/go-reshifter-zip.ts: backup.store()'s paths, archivefile's walk order, deflate with a data
 * descriptor). Before, `restore 1498050161.zip` was refused as a snapshot file (exit 2, "etcdutl snapshot restore"),
 * and with --keys as "a zip archive of N entries, not a k3s snapshot zip": nothing of such a backup could be restored.
 */
const ID = '1498050161';
const RENAMED = '1498059999';
const KEYS: Array<[string, string | Buffer]> = [
  ['/registry/namespaces/team-1', '{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"team-1"}}'],
  ['/registry/namespaces/team-2', '{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"team-2"}}'],
  ['/registry/deployments/team-1/web', '{"kind":"Deployment","apiVersion":"extensions/v1beta1","metadata":{"name":"web","namespace":"team-1"}}'],
  ['/registry/configmaps/team-2/settings', '{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"settings","namespace":"team-2"}}'],
  ['/registry/clusterrolebindings/system:basic-user', '{"kind":"ClusterRoleBinding","apiVersion":"rbac.authorization.k8s.io/v1beta1","metadata":{"name":"system:basic-user"}}'],
  ['/registry/configmaps/team-2/empty', ''],
  ['/registry/secrets/team-1/bin', Buffer.from([0x6b, 0x38, 0x73, 0x00, 0x0a, 0xff, 0xfe, 0x01])],
  ['/registry/ranges/serviceips', 'range 10.0.0.0/24'],
  ['/openshift.io/routes/team-1/web', '{"kind":"Route","apiVersion":"v1","metadata":{"name":"web","namespace":"team-1"}}'],
];

let etcd: TestEtcd;
let work: string;
let zip: string;

const cli = (args: string[], extra: Record<string, string> = {}) => runCli(args, { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_TMP_DIR: work, ...extra }, { cwd: work });

/** Every key of the etcd with its value, as etcdctl prints them (hex for the binary one). */
async function allKeys(): Promise<Map<string, string>> {
  const out = JSON.parse(await etcd.ctl(['get', '', '--prefix', '-w', 'json'])) as { kvs?: Array<{ key: string; value?: string }> };
  return new Map((out.kvs ?? []).map((kv) => [Buffer.from(kv.key, 'base64').toString('latin1'), Buffer.from(kv.value ?? '', 'base64').toString('hex')]));
}

beforeAll(async () => {
  etcd = await startEtcd();
  work = await mkdtemp(join(tmpdir(), 'go-zip-'));
  zip = await writeGoReshifterZip(join(work, `${ID}.zip`), ID, KEYS);
});

afterAll(async () => {
  await etcd?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('restore of a backup of the Go Reshifter', () => {
  it('--dry-run plans every key and writes nothing', async () => {
    const res = await cli(['restore', zip, '--dry-run', '--json']);
    expect(res.code, res.stderr).toBe(0);
    const report = JSON.parse(res.stdout) as KeyRestoreReport;
    expect(report).toMatchObject({ id: ID, file: zip, dryRun: true, written: 0, target: { apiVersion: 'v3' } });
    expect(report.totals).toMatchObject({ keys: KEYS.length, create: KEYS.length });
    expect((await allKeys()).size).toBe(0);
  });

  it('a namespace filter restores that namespace only', async () => {
    const res = await cli(['restore', zip], { RS_INCLUDE_NAMESPACES: 'team-2' });
    expect(res.code, res.stderr).toBe(0);
    expect([...(await allKeys()).keys()].sort()).toEqual(['/registry/configmaps/team-2/empty', '/registry/configmaps/team-2/settings', '/registry/namespaces/team-2']);
    await etcd.ctl(['del', '', '--prefix']);
  });

  it('writes every key with its value: ":" from ESC_COLON, an empty value, binary bytes', async () => {
    const res = await cli(['restore', zip]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout.split('\n')[0]).toBe(`backup ${ID} of the Go Reshifter (${zip})`);
    expect(res.stdout).toContain(`restored ${KEYS.length} keys into ${etcd.endpoint} (v3)`);
    expect(await allKeys()).toEqual(new Map(KEYS.map(([k, v]) => [k, Buffer.from(v).toString('hex')])));
  });

  it('the check of the whole archive, before the restore, reports progress (the timer faked, the reads real)', async () => {
    const loaded = loadConfig({ RS_ETCD_ENDPOINTS: etcd.endpoint });
    if (!loaded.config) throw new Error(loaded.errors.join('; '));
    const lines: Array<{ msg: string; what?: string; keys?: number }> = [];
    const log = createLogger('info', { write: (l: string) => void lines.push(JSON.parse(l) as (typeof lines)[number]) });
    const ctx: OpContext = { config: loaded.config, log, signal: new AbortController().signal };
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      let settled = false;
      const running = restoreGoZipKeys(ctx, zip, { dryRun: true, skipExisting: false }).finally(() => (settled = true));
      while (!settled) {
        vi.advanceTimersByTime(5000);
        await new Promise((resolve) => setImmediate(resolve));
      }
      expect((await running).totals.keys).toBe(KEYS.length);
    } finally {
      vi.useRealTimers();
    }
    const checks = lines.filter((l) => l.msg === 'progress' && l.what === 'check of the archive');
    expect(checks.length, JSON.stringify(lines)).toBeGreaterThan(0);
    expect(checks.every((p) => p.keys! <= KEYS.length)).toBe(true);
    expect(lines.some((l) => l.msg === 'backup of the Go Reshifter read and checked')).toBe(true);
  });

  it('again with --skip-existing changes nothing', async () => {
    await etcd.ctl(['put', '/registry/configmaps/team-2/settings', 'changed since']);
    const res = await cli(['restore', zip, '--skip-existing', '--json']);
    expect(res.code, res.stderr).toBe(0);
    const report = JSON.parse(res.stdout) as KeyRestoreReport;
    expect(report.written).toBe(0);
    expect((await etcd.ctl(['get', '/registry/configmaps/team-2/settings', '--print-value-only'])).trim()).toBe('changed since');
    await etcd.ctl(['del', '', '--prefix']);
  });
});

// Before: every 256 KiB block of the archive was a fresh buffer and every value went through a stream of copies joined
// again: a whole archive of garbage, which V8 collected now and then. verify of a 283 MB zip (100k keys, 200 Helm
// release values of 1 MB) peaked at 252-287 MB and took 5.0-5.3 CPU-s, stats of it 322-335 MB and 8.3-9.1 CPU-s;
// now 221-224 MB and 2.5-2.6 CPU-s, and 220 MB and 5.3 CPU-s.
describe('reading a backup of the Go Reshifter with big values', () => {
  it('reads through a few reused blocks, every value whole and exact', async () => {
    const values: Array<[string, Buffer]> = [];
    for (let v = 1; v <= 6; v++) values.push([`/registry/secrets/team-1/sh.helm.release.v1.app.v${v}`, Buffer.from(randomBytes(600_000).toString('base64'))]);
    values.push(['/registry/configmaps/team-1/raw', randomBytes(300_000)]);
    await mkdir(join(work, 'big-values'), { recursive: true });
    const big = await writeGoReshifterZip(join(work, 'big-values', `${ID}.zip`), ID, values);
    const read = new Map<string, Buffer>();
    const { stream } = await openGoReshifterZip(big, 'big.zip', new AbortController().signal, { command: 'verify' });
    for await (const r of stream.records()) read.set(r.key.toString(), r.value);
    expect(read).toEqual(new Map(values));
    const reader = BlockReader.open(big);
    try {
      const into = Buffer.alloc(reader.size);
      for (let at = 0; at < reader.size; at += 100_000) reader.readInto(into.subarray(at, Math.min(reader.size, at + 100_000)), at);
      expect(into).toEqual(await readFile(big));
      expect(reader.size).toBeGreaterThan(3_000_000);
      expect(reader.allocated).toBeLessThanOrEqual(4);
    } finally {
      reader.close(() => undefined);
    }
  });
});

describe('restore <id> of a backup of the Go Reshifter, as rcli restore -i <id> found it', () => {
  let s3: TestS3;
  beforeAll(async () => {
    s3 = await startS3('reshifter');
    // The Go Reshifter's remotes.StoreInS3 put <id>.zip at the root of the bucket.
    const client = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
    await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `${ID}.zip`, Body: await readFile(zip) }));
    // Backup ID's zip under another id's name (copied or renamed by hand).
    await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `${RENAMED}.zip`, Body: await readFile(zip) }));
    client.destroy();
  });
  afterAll(async () => {
    await s3?.stop();
  });

  it('finds <id>.zip at the root of RS_S3_BUCKET, restores it and leaves nothing in the work area', async () => {
    await etcd.ctl(['del', '', '--prefix']);
    const tmp = join(work, 'tmp-s3');
    await mkdir(tmp);
    const res = await cli(['restore', ID, '--json'], { ...s3.env, RS_TMP_DIR: tmp });
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout) as KeyRestoreReport).toMatchObject({ id: ID, file: `s3://reshifter/${ID}.zip`, written: KEYS.length });
    expect(await allKeys()).toEqual(new Map(KEYS.map(([k, v]) => [k, Buffer.from(v).toString('hex')])));
    expect(await readdir(tmp)).toEqual([]);
  });

  it('finds <id>.zip in RS_BACKUP_DIR, as the Go Reshifter left it in /tmp/reshifter', async () => {
    await etcd.ctl(['del', '', '--prefix']);
    const dir = join(work, 'reshifter');
    await mkdir(dir);
    await copyFile(zip, join(dir, `${ID}.zip`));
    const res = await cli(['restore', ID, '--dry-run'], { RS_BACKUP_DIR: dir });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain(`backup ${ID} of the Go Reshifter (${dir}/${ID}.zip)`);
    expect(res.stdout).toContain(`dry run: would write ${KEYS.length} of ${KEYS.length} keys`);
  });

  it('stats <id> and stats FILE count its keys, named as the Go Reshifter\'s backup', async () => {
    const [byId, byFile, text] = await Promise.all([cli(['stats', ID, '--json'], s3.env), cli(['stats', zip, '--json']), cli(['stats', zip])]);
    expect(byId.code, byId.stderr).toBe(0);
    const stats = JSON.parse(byId.stdout) as { source: Record<string, unknown>; keys: number; byResource: Record<string, { keys: number }> };
    expect(stats.source).toMatchObject({ kind: 'file', path: `s3://reshifter/${ID}.zip`, id: ID, strategy: 'go-reshifter', prefixes: ['/openshift.io', '/registry'] });
    expect(stats.keys).toBe(KEYS.length);
    expect(stats.byResource.configmaps!.keys).toBe(2);
    expect((JSON.parse(byFile.stdout) as { keys: number }).keys).toBe(KEYS.length);
    expect(text.stdout.split('\n')[0]).toBe(`source:   file ${zip}, backup ${ID} of the Go Reshifter (it records no etcd API or revision)`);
    const bad = await cli(['stats', await damagedLast()]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/zip CRC-32: .*entry 1498050161\/registry\/secrets\/team-1\/bin\/content has CRC-32/);
  });

  it('list of a bucket or folder holding them names them with the commands that read them', async () => {
    const [bucket, folder] = await Promise.all([cli(['list'], s3.env), cli(['list'], { RS_BACKUP_DIR: join(work, 'reshifter') })]);
    expect(bucket.code, bucket.stderr).toBe(0);
    expect(bucket.stdout).toContain(`s3://reshifter/ holds 2 backups of the Go Reshifter (<id>.zip: ${RENAMED}, ${ID}), not reshifter backups: "reshifter restore ${RENAMED}" restores one`);
    expect(folder.stdout).toContain(`${join(work, 'reshifter')} holds a backup of the Go Reshifter (<id>.zip: ${ID})`);
    const latest = await cli(['restore', 'latest', '--dry-run'], s3.env);
    expect(latest.code).toBe(1);
    expect(latest.stderr).toContain(`"reshifter restore ${RENAMED}" restores one`);
  });

  it('verify <id> and verify FILE check every entry, and a damaged one fails naming it', async () => {
    const byId = await cli(['verify', ID, '--json'], s3.env);
    expect(byId.code, byId.stderr).toBe(0);
    expect(JSON.parse(byId.stdout)).toMatchObject({ file: `s3://reshifter/${ID}.zip`, id: ID, ok: true });
    const byFile = await cli(['verify', zip]);
    expect(byFile.code, byFile.stderr).toBe(0);
    expect(byFile.stdout).toContain(`ok  \tGo Reshifter zip\tbackup ${ID}: ${KEYS.length} keys under /openshift.io, /registry`);
    const bad = await cli(['verify', await damagedLast()]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(/^FAIL\tGo Reshifter zip\tzip CRC-32: .*entry 1498050161\/registry\/secrets\/team-1\/bin\/content has CRC-32/m);
  });

  it('an id whose zip holds another backup is refused by restore, verify and stats, nothing written', async () => {
    await etcd.ctl(['del', '', '--prefix']);
    const message = `s3://reshifter/${RENAMED}.zip holds backup ${ID} (its folder ${ID}/), not ${RENAMED}: it was renamed, or is another backup`;
    const restore = await cli(['restore', RENAMED], s3.env);
    expect(restore.code).toBe(1);
    expect(restore.stderr).toContain(`${message}; give it by its path to read it as it is; nothing was written`);
    expect((await allKeys()).size).toBe(0);
    const verify = await cli(['verify', RENAMED], s3.env);
    expect(verify.code).toBe(1);
    expect(verify.stdout).toContain(message);
    // stats <id> counted backup ID's keys under the id RENAMED, as if they were its.
    const stats = await cli(['stats', RENAMED], s3.env);
    expect(stats.code).toBe(1);
    expect(stats.stderr).toContain(`${message}; give it by its path to read it as it is`);
    expect(stats.stdout).toBe('');
  });

  // restore, verify and stats read <id>.zip of the store by its id; inspect said "1498050161 is not a backup id" (exit
  // 2), so its keys could be listed only after downloading the zip by hand.
  it('inspect <id> --keys and --get read its keys from the store; a renamed one is refused; its status is a snapshot\'s', async () => {
    const keys = await cli(['inspect', ID, '--keys'], s3.env);
    expect(keys.code, keys.stderr).toBe(0);
    expect(keys.stdout.split('\n').filter((l) => l.startsWith('/')).length).toBe(KEYS.length);
    const get = await cli(['inspect', ID, '--get', '/registry/ranges/serviceips', '--raw'], s3.env);
    expect(get.code, get.stderr).toBe(0);
    expect(get.stdout).toBe('range 10.0.0.0/24');
    const renamed = await cli(['inspect', RENAMED, '--keys'], s3.env);
    expect(renamed.code).toBe(1);
    expect(renamed.stderr).toContain(`s3://reshifter/${RENAMED}.zip holds backup ${ID} (its folder ${ID}/), not ${RENAMED}`);
    const status = await cli(['inspect', ID], s3.env);
    expect(status.code).toBe(1);
    expect(status.stderr).toContain(`${ID} is a backup of the Go Reshifter, not an etcd snapshot: \`inspect\` shows the status of snapshots; for it use \`stats ${ID}\``);
    expect(await readdir(work)).not.toContain(expect.stringMatching(/^reshifter-/));
  });

  it('an id the store holds no zip of is named with where it was looked for', async () => {
    const res = await cli(['restore', '1498050999'], s3.env);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`1498050999 is the id of a backup of the Go Reshifter, and s3://reshifter/ holds no 1498050999.zip at its root`);
  });
});

describe('inspect of a backup of the Go Reshifter', () => {
  it('--keys lists its keys and --get KEY --raw gives a value; the status, a snapshot\'s, is refused naming what reads it', async () => {
    const keys = await cli(['inspect', zip, '--keys']);
    expect(keys.code, keys.stderr).toBe(0);
    const listed = keys.stdout.trim().split('\n').slice(1).map((l) => l.split('\t')[0]);
    expect(listed.sort()).toEqual(KEYS.map(([k]) => k).filter((k) => k.startsWith('/registry/') || k.startsWith('/openshift.io/')).sort());
    const get = await cli(['inspect', zip, '--get', '/registry/clusterrolebindings/system:basic-user', '--raw']);
    expect(get.code, get.stderr).toBe(0);
    expect(get.stdout).toBe(KEYS[4]![1]);
    const status = await cli(['inspect', zip]);
    expect(status.code).toBe(1);
    expect(status.stderr).toContain(`${zip} is a backup of the Go Reshifter, not an etcd snapshot: \`inspect\` shows the status of snapshots; for it use \`stats ${zip}\`, or \`inspect ${zip} --keys\``);
    const bad = await cli(['inspect', await damagedLast(), '--keys']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/zip CRC-32: .*entry 1498050161\/registry\/secrets\/team-1\/bin\/content has CRC-32/);
  });
});

/** A zip of the keys above with `change` made to its bytes (same length), written beside it. */
async function patched(name: string, from: string, to: string): Promise<string> {
  expect(from.length).toBe(to.length);
  const bytes = await readFile(zip);
  let at = bytes.indexOf(from);
  expect(at).toBeGreaterThan(-1);
  for (; at !== -1; at = bytes.indexOf(from, at + 1)) bytes.write(to, at, 'latin1');
  const path = join(work, name);
  await writeFile(path, bytes);
  return path;
}

/** The zip with the CRC-32 of its last entry (in walk order) changed in the central directory, as damaged data reads. */
async function damagedLast(): Promise<string> {
  const bytes = await readFile(zip);
  const name = Buffer.from(`${ID}/registry/secrets/team-1/bin/content`);
  const central = bytes.lastIndexOf(name);
  expect(central).toBeGreaterThan(bytes.indexOf(name));
  // The central directory header: its name at offset 46, its CRC-32 at 16.
  bytes[central - 46 + 16] ^= 0xff;
  const path = join(work, 'crc.zip');
  await writeFile(path, bytes);
  return path;
}

describe('a hostile or damaged archive is refused naming the entry, with nothing written', () => {
  const cases: Array<[string, () => Promise<string>, RegExp]> = [
    ['a path out of the archive (zip slip)', () => patched('slip.zip', `${ID}/registry/ranges/`, `${ID}/../../../../etc/`), /entry 1498050161\/\.\.\/\.\.\/\.\.\/\.\.\/etc\/serviceips\/content is not a path inside the archive/],
    ['a backslash in a path', () => patched('backslash.zip', `${ID}/registry/ranges/`, `${ID}\\registry\\ranges/`), /entry 1498050161\\registry\\ranges\/serviceips\/content is not a path inside the archive/],
    ['a value file without a key', () => writeGoReshifterZip(join(work, 'nokey.zip'), ID, KEYS.slice(0, 3), [[`${ID}/content`, Buffer.from('v')]]), /entry 1498050161\/content is a value file without a key/],
    ['a file that is no value', () => writeGoReshifterZip(join(work, 'stray.zip'), ID, KEYS.slice(0, 3), [[`${ID}/registry/pods/README`, Buffer.from('v')]]), /entry 1498050161\/registry\/pods\/README is not a key's value file/],
    ['a duplicate key', () => writeGoReshifterZip(join(work, 'dup.zip'), ID, KEYS, [[`${ID}/registry/secrets/team-1/bin/content`, Buffer.from('v')]]), /entry 1498050161\/registry\/secrets\/team-1\/bin\/content is a second value of the key \/registry\/secrets\/team-1\/bin \(a duplicate key\)/],
    ['a key out of the walk order', () => writeGoReshifterZip(join(work, 'order.zip'), ID, KEYS, [[`${ID}/registry/aaa/content`, Buffer.from('v')]]), /entry 1498050161\/registry\/aaa\/content \(key \/registry\/aaa\) comes after the key \/registry\/secrets\/team-1\/bin, out of the order/],
    ['another backup id', () => writeGoReshifterZip(join(work, 'two.zip'), ID, KEYS, [['1498050999/registry/x/content', Buffer.from('v')]]), /entry 1498050999\/registry\/x\/content is under 1498050999\/, another backup than 1498050161\//],
    ['a symbolic link', () => writeGoReshifterZip(join(work, 'link.zip'), ID, KEYS, [[`${ID}/registry/zz/content`, Buffer.from('/etc/passwd'), 0o120777]]), /entry 1498050161\/registry\/zz\/content is a symbolic link/],
    ['a ":" in a path', () => writeGoReshifterZip(join(work, 'colon.zip'), ID, KEYS, [[`${ID}/registry/x:y/content`, Buffer.from('v')]]), /entry 1498050161\/registry\/x:y\/content has a ":" in its path/],
    ['a value over 64 MiB (a zip bomb)', () => writeGoReshifterZip(join(work, 'bomb.zip'), ID, KEYS, [[`${ID}/registry/zz/content`, Buffer.alloc(64 * 1024 * 1024 + 1)]]), /entry 1498050161\/registry\/zz\/content holds a value of 67108865 bytes, more than the 67108864/],
    ['damaged data in the last entry', damagedLast, /zip CRC-32: .*entry 1498050161\/registry\/secrets\/team-1\/bin\/content has CRC-32 [0-9a-f]{8}, the archive says [0-9a-f]{8} \(damaged\)/],
  ];
  it.each(cases)('%s', async (_, make, message) => {
    await etcd.ctl(['del', '', '--prefix']);
    const file = await make();
    const res = await cli(['restore', file]);
    expect(res.code, res.stdout).toBe(1);
    expect(res.stderr).toMatch(message);
    expect(res.stderr).toContain('nothing was written');
    expect(res.stderr).not.toMatch(/\n\s+at /);
    expect((await allKeys()).size).toBe(0);
  });

  it('too many entries, counted from the central directory before any is read', async () => {
    const limits = { entries: KEYS.length - 1, valueBytes: 1024 };
    await expect(openGoReshifterZip(zip, zip, new AbortController().signal, { command: 'restore', limits })).rejects.toThrow(`${zip} holds ${KEYS.length} entries, more than the ${KEYS.length - 1}`);
  });
});

describe('a stop (SIGTERM/SIGINT) during the check of the archive', () => {
  // The check read the archive for stats and verify too, and said "restore interrupted" whatever the command: an
  // operator who stopped a stats run read that a restore had been cut short. The signal as the CLI's is once a
  // SIGTERM came, the archive real.
  it('names the command that was interrupted and the archive', async () => {
    const loaded = loadConfig({ RS_ETCD_ENDPOINTS: etcd.endpoint });
    if (!loaded.config) throw new Error(loaded.errors.join('; '));
    const stopped = new AbortController();
    stopped.abort(new Error('received SIGTERM'));
    const ctx: OpContext = { config: loaded.config, log: createLogger('silent'), signal: stopped.signal };
    await expect(fileStats(ctx, zip)).rejects.toThrow(`stats of ${zip} interrupted (SIGTERM/SIGINT)`);
    await expect(verifyGoZipFile(ctx, zip)).rejects.toThrow(`verify of ${zip} interrupted (SIGTERM/SIGINT)`);
    await expect(goZipKeysInput(ctx, zip)).rejects.toThrow(`inspect of ${zip} interrupted (SIGTERM/SIGINT)`);
    await expect(restoreGoZipKeys(ctx, zip, { dryRun: true, skipExisting: false })).rejects.toThrow(`restore of ${zip} interrupted (SIGTERM/SIGINT)`);
  });
});

describe('verify and stats of a backup of the Go Reshifter', () => {
  // The check reads the whole archive; restore reported its progress, verify and stats said nothing until it ended
  // (on a large one, minutes with no line at all). The timer faked, the reads real.
  it('report the check of the archive as progress, as restore does', async () => {
    const loaded = loadConfig({ RS_ETCD_ENDPOINTS: etcd.endpoint });
    if (!loaded.config) throw new Error(loaded.errors.join('; '));
    for (const [command, run] of [
      ['verify', (ctx: OpContext) => verifyGoZipFile(ctx, zip)],
      ['stats', (ctx: OpContext) => fileStats(ctx, zip)],
    ] as const) {
      const lines: Array<{ msg: string; what?: string; keys?: number; component?: string }> = [];
      const log = createLogger('info', { write: (l: string) => void lines.push(JSON.parse(l) as (typeof lines)[number]) });
      vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
      try {
        let settled = false;
        const running = run({ config: loaded.config, log, signal: new AbortController().signal }).finally(() => (settled = true));
        while (!settled) {
          vi.advanceTimersByTime(5000);
          await new Promise((resolve) => setImmediate(resolve));
        }
        await running;
      } finally {
        vi.useRealTimers();
      }
      const checks = lines.filter((l) => l.msg === 'progress' && l.what === 'check of the archive');
      expect(checks.length, `${command}: ${JSON.stringify(lines)}`).toBeGreaterThan(0);
      expect(checks.every((p) => p.keys! <= KEYS.length && p.component === command)).toBe(true);
    }
  });
});

describe('a SIGTERM while the archive is checked', () => {
  // Its reads are synchronous and settle as microtasks: the check never let the event loop turn, so a SIGTERM (and
  // the progress timer) waited for the whole archive, then the command went on as if none had come: verify printed
  // ok and exited 0, stats printed every count. The abort comes from the event loop, as a signal's handler does, once
  // the check has begun.
  it('stops the check within the archive, naming the command', async () => {
    await mkdir(join(work, 'big'));
    const keys = Array.from({ length: 2000 }, (_, i): [string, string] => [`/registry/configmaps/ns/cm-${String(i).padStart(5, '0')}`, `v${i}`]);
    const big = await writeGoReshifterZip(join(work, 'big', `${ID}.zip`), ID, keys);
    const controller = new AbortController();
    let checked = 0;
    const onChecked = (s: { keys: number }) => {
      if (checked === 0) setImmediate(() => controller.abort(new Error('received SIGTERM')));
      checked = s.keys;
    };
    await expect(openGoReshifterZip(big, big, controller.signal, { command: 'stats', onChecked })).rejects.toThrow(`stats of ${big} interrupted (SIGTERM/SIGINT)`);
    expect(checked).toBeLessThan(keys.length);
  });
});
