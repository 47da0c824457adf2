import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tarEntry } from '../../src/archive/tar.js';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';

interface M {
  id: string;
  artifact: string;
  sha256: string;
  sizeBytes: number;
  strategy: string;
  createdAt: string;
  etcd?: { revision: number };
}

/**
 * A stored artifact or manifest damaged at rest (bit flip, truncation, wrong size, garbage JSON): `verify` exits 1
 * naming the failed check, and `restore` refuses before writing anything.
 */
// Each case works on its own copy of the store, so the cases run concurrently.
describe('corrupted backups', { concurrent: true }, () => {
  let source: TestEtcd;
  let target: TestEtcd;
  let dir: string;
  let base: string;
  let snap: M;
  let dump: M;
  let keyFile: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rs-corrupt-'));
    base = join(dir, 'base');
    keyFile = join(dir, 'key.txt');
    execFileSync('age-keygen', ['-o', keyFile], { stdio: 'pipe' });
    const recipient = /public key: (age1\w+)/.exec(await readFile(keyFile, 'utf8'))![1]!;
    [source, target] = await Promise.all([startEtcd(), startEtcd()]);
    for (let i = 0; i < 50; i++) await source.ctl(['put', `/registry/configmaps/default/cm-${i}`, `value-${i}-${'x'.repeat(200)}`]);
    // gzip: a test below replaces an artifact with a gzip of other bytes.
    const env = { RS_ETCD_ENDPOINTS: source.endpoint, RS_BACKUP_DIR: base, RS_KUBE_PREFIXES: '/registry', RS_COMPRESSION: 'gzip' };
    const a = await runCli(['backup', '--json'], env);
    expect(a.code).toBe(0);
    snap = JSON.parse(a.stdout) as M;
    const b = await runCli(['backup', '--json'], { ...env, RS_BACKUP_STRATEGY: 'raw', RS_ENCRYPTION_RECIPIENTS: recipient });
    expect(b.code).toBe(0);
    dump = JSON.parse(b.stdout) as M;
  });
  afterAll(async () => {
    await Promise.all([source?.stop(), target?.stop()]);
    await rm(dir, { recursive: true, force: true });
  });

  let n = 0;
  /** A copy of the good store, damaged by `damage`; returns its directory. */
  async function damaged(damage: (folder: string) => Promise<void>): Promise<string> {
    const copy = join(dir, `case-${n++}`);
    await cp(base, copy, { recursive: true });
    await damage(join(copy, 'default'));
    return copy;
  }
  const flipBit = async (path: string, at: (size: number) => number) => {
    const buf = await readFile(path);
    buf[at(buf.length)]! ^= 0x04;
    await writeFile(path, buf);
  };
  const editManifest = async (folder: string, m: M, edit: (json: Record<string, unknown>) => unknown) => {
    const path = join(folder, `${m.id}.manifest.json`);
    await writeFile(path, JSON.stringify(edit(JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>)));
  };
  const readEnv = (store: string) => ({ RS_ETCD_ENDPOINTS: target.endpoint, RS_BACKUP_DIR: store, RS_ENCRYPTION_IDENTITY_FILE: keyFile });

  async function expectVerifyFails(store: string, id: string, check: string) {
    const res = await runCli(['verify', id], readEnv(store));
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(new RegExp(`reshifter: ${check}: `));
    expect(res.stderr).not.toMatch(/\n\s+at |this is a bug/);
    return res;
  }

  /** `restore` refuses, and nothing was written: the target etcd holds no key, the data dir does not exist. */
  async function expectRestoreRefuses(store: string, m: M, message: RegExp) {
    const dataDir = join(dir, `restored-${n++}`);
    const args = m === snap ? ['restore', m.id, '--data-dir', dataDir] : ['restore', m.id];
    const res = await runCli(args, readEnv(store));
    expect(res.stderr.split('\n').filter((l) => l.startsWith('reshifter:')).join('\n')).toMatch(message);
    expect(res.code).toBe(1);
    expect(await target.ctl(['get', '', '--from-key', '--keys-only'])).toBe('');
    await expect(stat(dataDir)).rejects.toThrow(/ENOENT/);
  }

  it('the good backups verify (the cases below start from these)', async () => {
    expect((await runCli(['verify', snap.id], readEnv(base))).code).toBe(0);
    expect((await runCli(['verify', dump.id], readEnv(base))).code).toBe(0);
  });

  it('a bit flipped in a snapshot artifact: sha256', async () => {
    const store = await damaged((f) => flipBit(join(f, snap.artifact), (s) => Math.floor(s / 2)));
    const res = await expectVerifyFails(store, snap.id, 'sha256');
    expect(res.stdout).toMatch(/FAIL\tsha256\tstored bytes hash to/);
    await expectRestoreRefuses(store, snap, /sha256/);
  });

  it('a bit flipped in an encrypted key dump: sha256, and decryption fails too', async () => {
    const store = await damaged((f) => flipBit(join(f, dump.artifact), (s) => s - 100));
    const res = await expectVerifyFails(store, dump.id, 'sha256');
    expect(res.stdout).toMatch(/FAIL\tdecrypt\t.*failed authentication/);
    await expectRestoreRefuses(store, dump, /sha256|decrypt/);
  });

  it('a truncated artifact: size', async () => {
    const store = await damaged((f) => truncate(join(f, snap.artifact), Math.floor(snap.sizeBytes / 3)));
    const res = await expectVerifyFails(store, snap.id, 'size');
    expect(res.stdout).toMatch(/FAIL\tsize\t\d+ bytes stored, manifest says \d+/);
    await expectRestoreRefuses(store, snap, /size|sha256|truncated|unexpected end/);
  });

  it('an empty artifact: size', async () => {
    const store = await damaged((f) => truncate(join(f, dump.artifact), 0));
    await expectVerifyFails(store, dump.id, 'size');
    await expectRestoreRefuses(store, dump, /size|sha256|decrypt/);
  });

  it('a manifest with the wrong size: size', async () => {
    const store = await damaged((f) => editManifest(f, snap, (j) => ({ ...j, sizeBytes: (j.sizeBytes as number) + 1 })));
    await expectVerifyFails(store, snap.id, 'size');
    await expectRestoreRefuses(store, snap, /size/);
  });

  it('an artifact replaced, manifest hash updated to match: the content check (etcd trailer) fails', async () => {
    const fake = gzipSync(Buffer.alloc(64 * 1024, 7));
    const store = await damaged(async (f) => {
      await writeFile(join(f, snap.artifact), fake);
      await editManifest(f, snap, (j) => ({ ...j, sizeBytes: fake.length, rawSizeBytes: 64 * 1024, sha256: createHash('sha256').update(fake).digest('hex') }));
    });
    await expectVerifyFails(store, snap.id, 'trailer');
    await expectRestoreRefuses(store, snap, /trailer/);
  });

  /** The snapshot's gzip content damaged, its manifest's sha256 and size updated to match (made once, shared). */
  let gzipDamaged: Promise<string> | undefined;
  const damagedGzip = () =>
    (gzipDamaged ??= damaged(async (f) => {
      const path = join(f, snap.artifact);
      const buf = await readFile(path);
      for (let i = 0; i < 64; i++) buf[Math.floor(buf.length / 2) + i]! ^= 0x5a;
      await writeFile(path, buf);
      await editManifest(f, snap, (j) => ({ ...j, sizeBytes: buf.length, sha256: createHash('sha256').update(buf).digest('hex') }));
    }));

  it('gzip content damaged, manifest hash and size updated to match: verify and restore name decompress', async () => {
    const store = await damagedGzip();
    const res = await expectVerifyFails(store, snap.id, 'decompress');
    expect(res.stdout).toMatch(/FAIL\tdecompress\t/);
    await expectRestoreRefuses(store, snap, /reshifter: decompress: backup .* does not decompress: /);
  });

  it.each([['diff'], ['stats'], ['inspect'], ['restore --keys']])('gzip content damaged, hashes updated: %s names decompress', async (command) => {
    const store = await damagedGzip();
    const args =
      command === 'diff' ? ['diff', snap.id, dump.id]
      : command === 'restore --keys' ? ['restore', snap.id, '--keys', '--dry-run']
      : [command, snap.id];
    const out = await runCli(args, readEnv(store));
    expect(out.stderr).toMatch(new RegExp(`reshifter: decompress: backup ${snap.id} does not decompress: .* \\(its gzip data is damaged\\)`));
    expect(out.stderr).not.toMatch(/\n\s+at |this is a bug/);
    expect(out.code).toBe(1);
  });

  it('a missing artifact (its manifest there): read, named as a damaged backup, under the backup verify names', async () => {
    // Before: 'reshifter: reading <path>: no such file' alone: no backup named, no FAIL line, nothing to say the
    // backup is damaged rather than the store unreachable.
    for (const m of [dump, snap]) {
      const store = await damaged((f) => rm(join(f, m.artifact)));
      const missing = `its artifact ${join(store, 'default', m.artifact)} is missing, though its manifest is there (removed by hand); the backup cannot be read or restored`;
      const res = await expectVerifyFails(store, m.id, 'read');
      expect(res.stdout).toBe(`backup ${m.id} (${m.strategy}, revision ${m.etcd!.revision}, taken ${m.createdAt})\nFAIL\tread\t${missing}\n`);
      expect(res.stderr).toContain(`reshifter: read: backup ${m.id} failed verification: ${missing}\n`);
      // A restore is refused before it begins, in list's words (verify above still reads it and fails it).
      await expectRestoreRefuses(store, m, new RegExp(`^reshifter: backup ${m.id}: its artifact ${m.artifact.replace(/\./g, '\\.')} is missing from the store, so it restores nothing`));
    }
  });

  it.each([
    ['garbage JSON', '{"format": 1, "id": '],
    ['binary junk', '\u0000\u0001\u0002\ufffd'],
    ['a JSON array', '[1,2,3]'],
    ['a wrong type', 'sizeBytes'],
    ['an artifact path that leaves the folder', 'artifact'],
    ['prefixes that are text', 'prefixes-text'],
    ['prefixes that are an object', 'prefixes-object'],
  ])('a manifest with %s: manifest', async (_what, kind) => {
    const store = await damaged(async (f) => {
      const path = join(f, `${snap.id}.manifest.json`);
      const good = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
      const text =
        kind === 'sizeBytes' ? JSON.stringify({ ...good, sizeBytes: 'big' })
        : kind === 'artifact' ? JSON.stringify({ ...good, artifact: `${snap.id}.snapshot.db.gz/../../../../etc/passwd` })
        : kind === 'prefixes-text' ? JSON.stringify({ ...good, prefixes: 'x' })
        : kind === 'prefixes-object' ? JSON.stringify({ ...good, prefixes: { '0': '/registry' } })
        : kind;
      await writeFile(path, text);
    });
    const res = await runCli(['verify', snap.id], readEnv(store));
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/reshifter: manifest: .*default\/.*\.manifest\.json: /);
    expect(res.stderr).not.toMatch(/\n\s+at |this is a bug|SyntaxError/);
    if (kind.startsWith('prefixes')) expect(res.stderr).toMatch(/field "prefixes" is not a list of key prefixes/);
    await expectRestoreRefuses(store, snap, /manifest: /);
    if (kind !== 'artifact') return;
    // `list` still works and says which manifest it skipped.
    const list = await runCli(['list', '--json'], readEnv(store));
    expect(list.code).toBe(0);
    expect((JSON.parse(list.stdout) as M[]).map((m) => m.id)).toEqual([dump.id]);
    expect(list.stderr).toMatch(/unreadable manifest skipped/);
  });

  /**
   * A gzip key dump of `source` in a store of its own beside a snapshot, its tar entries passed through `edit` and its
   * manifest's sha256 and sizes made to match, as whoever can write the store can do.
   */
  async function rewrittenDump(edit: (name: string, data: Buffer) => Buffer): Promise<{ store: string; raw: M; other: M }> {
    const store = join(dir, `rewritten-${n++}`);
    const take = { RS_ETCD_ENDPOINTS: source.endpoint, RS_BACKUP_DIR: store, RS_KUBE_PREFIXES: '/registry', RS_COMPRESSION: 'gzip' };
    const other = JSON.parse((await runCli(['backup', '--json'], take)).stdout) as M;
    const raw = JSON.parse((await runCli(['backup', '--json'], { ...take, RS_BACKUP_STRATEGY: 'raw' })).stdout) as M;
    const folder = join(store, 'default');
    const tar = gunzipSync(await readFile(join(folder, raw.artifact)));
    const parts: Buffer[] = [];
    let at = 0;
    while (tar[at] !== 0) {
      const name = tar.toString('latin1', at, at + 100).replace(/\0.*$/s, '');
      const size = parseInt(tar.toString('latin1', at + 124, at + 136).replace(/\0.*$/s, '').trim(), 8);
      parts.push(...tarEntry(name, edit(name, tar.subarray(at + 512, at + 512 + size)), Date.now() / 1000));
      at += 512 + Math.ceil(size / 512) * 512;
    }
    const rebuilt = Buffer.concat([...parts, tar.subarray(at)]);
    const stored = gzipSync(rebuilt);
    await writeFile(join(folder, raw.artifact), stored);
    await editManifest(folder, raw, (g) => ({ ...g, sha256: createHash('sha256').update(stored).digest('hex'), sizeBytes: stored.length, rawSizeBytes: rebuilt.length }));
    return { store, raw, other };
  }

  // A key dump's header (its first tar entry) says which prefixes and filters it was taken with: diff prints them and
  // restore and diff decide by them which keys they take. Whoever writes the store can write it, with the sha256 to match.
  it.each([
    ['filters that are not lists', { selection: { resourceSets: 5 } }, 'has a "selection" that is not the filters a key dump records'],
    ['a prefix with ESC sequences', { prefixes: ['/reg\u001b[2Jistry'] }, 'has no prefixes, or one that is not printable text'],
    ['a negative revision', { revision: -5 }, 'has no revision'],
  ])('a key dump whose header has %s: content, verify, diff and restore refuse it', async (_what, change, said) => {
    const { store, raw, other } = await rewrittenDump((name, data) =>
      name === 'reshifter-dump.json' ? Buffer.from(JSON.stringify({ ...(JSON.parse(data.toString()) as object), ...change })) : data,
    );
    const res = await expectVerifyFails(store, raw.id, 'content');
    expect(res.stdout).toContain(`FAIL\tcontent\tkey dump: reshifter-dump.json ${said}`);
    const diff = await runCli(['diff', other.id, raw.id], readEnv(store));
    expect(diff.code).toBe(1);
    expect(diff.stderr).toContain(`reshifter: content: backup ${raw.id} (${raw.artifact}): key dump: reshifter-dump.json ${said}`);
    expect(diff.stderr).not.toMatch(/this is a bug|\u001b/);
    await expectRestoreRefuses(store, raw, new RegExp(`content: backup ${raw.id} .${raw.artifact}.: key dump: reshifter-dump.json ${said.replace(/[()"]/g, '.')}`));
  });

  // A key put into the archive beyond the prefixes the dump was taken under (its header's): restore would write it into
  // etcd, where nothing of it was backed up (/bootstrap, another application's keys, keys no prefix reads back).
  it('a key dump holding a key outside its prefixes: verify fails content, restore writes nothing', async () => {
    const { store, raw } = await rewrittenDump((name, data) => {
      if (name !== 'keys/000000001.json') return data;
      const meta = JSON.parse(data.toString()) as Record<string, unknown>;
      return Buffer.from(JSON.stringify({ ...meta, key: '/bootstrap/evil', keyBase64: Buffer.from('/bootstrap/evil').toString('base64') }));
    });
    const said = 'key dump: keys/000000001.json holds key /bootstrap/evil, outside the prefixes its header names (/registry)';
    const res = await expectVerifyFails(store, raw.id, 'content');
    expect(res.stdout).toContain(`FAIL\tcontent\t${said}`);
    await expectRestoreRefuses(store, raw, new RegExp(said.replace(/[()/]/g, '.')));
  });

  // A FIFO (or a device) put in the folder under a backup's name: opening a FIFO for reading blocks until a writer
  // comes, and blocked verify for good (SIGTERM could not end it either). Refused as not a file, at once.
  it('a FIFO or device under a manifest or artifact name: refused as not a regular file, nothing hangs', async () => {
    const fifoId = '20200101T000000.000Z-f1f0f1';
    const devId = '20200101T000000.000Z-de0de0';
    const store = await damaged(async (f) => {
      execFileSync('mkfifo', [join(f, `${fifoId}.manifest.json`)]);
      execFileSync('ln', ['-s', '/dev/zero', join(f, `${devId}.manifest.json`)]);
      await rm(join(f, snap.artifact));
      execFileSync('mkfifo', [join(f, snap.artifact)]);
    });
    for (const [id, file] of [[fifoId, `${fifoId}.manifest.json`], [devId, `${devId}.manifest.json`], [snap.id, snap.artifact]] as const) {
      const res = await runCli(['verify', id], readEnv(store));
      expect(res.code, id).toBe(1);
      expect(res.stderr).toContain(`reshifter: reading ${join(store, 'default', file)}: not a regular file`);
    }
    await expectRestoreRefuses(store, snap, /missing from the store/);
  });

  // A MiB of "[" is valid JSON that JSON.parse takes; the functions that copy and print manifests recurse on it.
  it('a manifest nested 400000 levels deep: refused naming the field, list names it, no stack overflow', async () => {
    const store = await damaged(async (f) => {
      const path = join(f, `${snap.id}.manifest.json`);
      const good = (await readFile(path, 'utf8')).trim();
      await writeFile(path, `${good.slice(0, -1)},"x":${'['.repeat(400_000)}${']'.repeat(400_000)}}`);
    });
    const said = 'field "x[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]" nests values more than 16 levels deep';
    const res = await expectVerifyFails(store, snap.id, 'manifest');
    expect(res.stderr).toContain(said);
    for (const args of [['list'], ['list', '--json'], ['prune', '--dry-run'], ['list', '--all-clusters']]) {
      const out = await runCli(args, readEnv(store));
      expect(out.code, args.join(' ')).toBe(0);
      // --all-clusters reads only each cluster's newest manifest, the dump's here.
      if (args[1] !== '--all-clusters') expect(`${out.stdout}${out.stderr}`).toContain('nests values more than 16 levels deep, which no reshifter writes');
      expect(`${out.stdout}${out.stderr}`).not.toMatch(/call stack/);
    }
  });

  // A few KB of gzip that inflate to gigabytes, with its manifest's sha256 and size made to match (anyone who can write
  // the store can): read up to the raw size the manifest says and no further, never decoded whole into the work area.
  it('a decompression bomb with a matching sha256: refused at the raw size its manifest says', async () => {
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024));
    const store = await damaged(async (f) => {
      await writeFile(join(f, snap.artifact), bomb);
      await editManifest(f, snap, (g) => ({ ...g, sha256: createHash('sha256').update(bomb).digest('hex'), sizeBytes: bomb.length }));
    });
    const said = `decodes to more than the ${(snap as M & { rawSizeBytes: number }).rawSizeBytes} bytes its manifest says (rawSizeBytes): stopped there`;
    const res = await expectVerifyFails(store, snap.id, 'raw-size');
    expect(res.stdout).toContain(`FAIL\traw-size\tbackup ${snap.id} ${said}`);
    await expectRestoreRefuses(store, snap, /raw-size: .*stopped there/);
    for (const args of [['inspect', snap.id], ['stats', snap.id], ['restore', snap.id, '--keys', '--dry-run']]) {
      const out = await runCli(args, readEnv(store));
      expect(out.code, args.join(' ')).toBe(1);
      expect(out.stderr).toContain(said);
    }
  });

  // Whoever can write to the store can write a manifest whose text drives the reader's terminal (ESC sequences that
  // clear the screen or set its title) or fakes lines of list's table; every string of it is printed somewhere.
  it.each([
    ['strategy', 'strategy', (g: Record<string, unknown>) => ({ ...g, strategy: 'snap\u001b]0;owned\u0007\u001b[2J\nshot' })],
    ['createdAt', 'createdAt', (g: Record<string, unknown>) => ({ ...g, createdAt: 'Dec 7 2026 (\u001b[2J)' })],
    ['etcd.version', 'etcd.version', (g: Record<string, unknown>) => ({ ...g, etcd: { ...(g.etcd as object), version: '3.4\u009b31m' } })],
    ['a member name', 'etcd.members[0].name', (g: Record<string, unknown>) => ({ ...g, etcd: { ...(g.etcd as object), members: [{ name: 'm\u202e1', peerURLs: [] }] } })],
    ['a field name', 'x\\u001b[2J', (g: Record<string, unknown>) => ({ ...g, 'x\u001b[2J': 1 })],
  ])('a manifest with control characters in %s: refused naming the field, never printed', async (_what, field, edit) => {
    const store = await damaged((f) => editManifest(f, snap, edit));
    const res = await runCli(['verify', snap.id], readEnv(store));
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`field "${field}" holds control characters`);
    await expectRestoreRefuses(store, snap, /manifest: /);
    for (const args of [['verify', snap.id], ['list'], ['prune', '--dry-run'], ['list', '--all-clusters']]) {
      const out = await runCli(args, readEnv(store));
      expect(`${out.stdout}${out.stderr}`).not.toMatch(/[\u001b\u009b\u202e]|\nshot/);
    }
    // The dump beside it still lists.
    const list = await runCli(['list', '--json'], readEnv(store));
    expect((JSON.parse(list.stdout) as M[]).map((m) => m.id)).toEqual([dump.id]);
  });
});
