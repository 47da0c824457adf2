import { mkdir, mkdtemp, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import { loadConfig } from '../../src/config/load-config.js';
import { IntegrityError, OperationError } from '../../src/core/errors.js';
import { createLogger } from '../../src/log.js';
import { openBackup } from '../../src/ops/open-backup.js';
import { verifyBackup } from '../../src/ops/verify.js';
import { BackupRepository } from '../../src/store/backup-repository.js';
import { LocalStore } from '../../src/store/local-store.js';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';

/**
 * The work area: readers of a stored backup (stats, inspect, diff, verify, restore) stage it in RS_TMP_DIR, except in
 * a local store: an uncompressed, unencrypted snapshot is read in place, any other backup through a handle held open
 * since its check, and only a compressed or encrypted snapshot is decoded into the work area. A work area that does
 * not exist shows which reads need one: the others succeed without it, these fail naming RS_TMP_DIR.
 */
let etcd: TestEtcd;
let work: string;
let store: string;
let plain: Manifest;
let gzipped: Manifest;
let dump: Manifest;

const env = (extra: Record<string, string> = {}) => ({ RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: store, RS_CLUSTER_NAME: 'wa', ...extra });
const quiet = createLogger('silent', new Writable({ write: (_c, _e, cb) => cb() }));

async function backup(compression: string, strategy = 'snapshot'): Promise<Manifest> {
  const res = await runCli(['backup', '--json'], env({ RS_COMPRESSION: compression, RS_BACKUP_STRATEGY: strategy }));
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(res.stdout) as Manifest;
}

/** Runs `fn` with the system's temporary folder (TMPDIR, read by os.tmpdir()) gone too: any copy anywhere fails. */
async function withoutTmp<T>(fn: () => Promise<T>): Promise<T> {
  const before = process.env.TMPDIR;
  process.env.TMPDIR = join(work, 'no-such-tmp');
  try {
    return await fn();
  } finally {
    if (before === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = before;
  }
}

/** Runs `fn` with one byte in the middle of the backup's stored file flipped, and puts the file back after. */
async function withDamaged(m: Manifest, fn: () => Promise<void>): Promise<void> {
  const file = join(store, 'wa', m.artifact);
  const original = await readFile(file);
  const damaged = Buffer.from(original);
  damaged[damaged.length >> 1] ^= 0xff;
  await writeFile(file, damaged);
  try {
    await fn();
  } finally {
    await writeFile(file, original);
  }
}

/** A repository whose work area does not exist: any copy fails. */
const noWorkArea = () => new BackupRepository(new LocalStore(store), 'wa', join(work, 'no-such-work-area'));

beforeAll(async () => {
  etcd = await startEtcd();
  work = await mkdtemp(join(tmpdir(), 'rs-work-area-'));
  store = join(work, 'store');
  for (let i = 0; i < 50; i++) await etcd.ctl(['put', `/registry/configmaps/default/cm-${i}`, `value-${i}`]);
  plain = await backup('none');
  gzipped = await backup('gzip');
  dump = await backup('zstd', 'raw');
});
afterAll(async () => {
  await etcd?.stop();
  await rm(work, { recursive: true, force: true });
});

describe('a local uncompressed snapshot is read in place', () => {
  it('openBackup gives the store file itself, checked, and reads it with no work area', async () => {
    const opened = await withoutTmp(() => openBackup(noWorkArea(), plain, {}));
    try {
      expect(opened.kind).toBe('snapshot');
      if (opened.kind !== 'snapshot') return;
      expect(opened.file).toBe(join(store, 'wa', plain.artifact));
      const status = await (await opened.reader()).status();
      expect(status.revision).toBe(plain.etcd!.revision);
    } finally {
      await opened.close();
    }
    // Closing leaves the store's file where it was.
    expect((await readFile(join(store, 'wa', plain.artifact))).length).toBe(plain.sizeBytes);
  });

  it('verify walks it in place, with no work area and no temporary folder at all', async () => {
    const ctx = { config: loadConfig({ RS_BACKUP_DIR: store }).config!, log: quiet, signal: new AbortController().signal };
    const result = await withoutTmp(() => verifyBackup(ctx, noWorkArea(), plain));
    expect(result.ok, JSON.stringify(result.checks)).toBe(true);
    expect(result.checks.some((c) => c.name.startsWith('snapshot '))).toBe(true);
  });

  it('still refuses a file that differs from its manifest', async () => {
    await withDamaged(plain, async () => {
      await expect(openBackup(noWorkArea(), plain, {})).rejects.toThrow(IntegrityError);
      // etcd's own trailer, checked in the same pass, or the manifest's sha256: whichever sees it first.
      await expect(openBackup(noWorkArea(), plain, {})).rejects.toThrow(/sha256/);
    });
  });
});

describe('a local compressed key dump is read through a handle held open, with no copy', () => {
  const keysOf = async (items: AsyncIterable<{ type: string }>) => {
    let n = 0;
    for await (const item of items) if (item.type === 'key') n++;
    return n;
  };

  it('needs no work area, and a second pass reads it whole after retention deleted it', async () => {
    const file = join(store, 'wa', dump.artifact);
    const opened = await withoutTmp(() => openBackup(noWorkArea(), dump, {}));
    const aside = `${file}.aside`;
    try {
      expect(opened.kind).toBe('key dump');
      if (opened.kind !== 'key dump') return;
      expect(await keysOf(opened.items())).toBe(50);
      // The backup is deleted between two passes of a restore (a prune running at the same time).
      await rename(file, aside);
      expect(await keysOf(opened.items())).toBe(50);
    } finally {
      await opened.close();
      await rename(aside, file).catch(() => undefined);
    }
  });

  it('still refuses a file that differs from its manifest, and reads nothing of it', async () => {
    await withDamaged(dump, async () => {
      await expect(openBackup(noWorkArea(), dump, {})).rejects.toThrow(/stored bytes hash to .*refusing to use a corrupt backup/);
    });
  });
});

describe('a compressed snapshot is decoded in RS_TMP_DIR', () => {
  it('a gzip snapshot needs the work area, and the error names RS_TMP_DIR', async () => {
    const err = await openBackup(noWorkArea(), gzipped, {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OperationError);
    expect((err as Error).message).toMatch(new RegExp(`cannot stage backup ${gzipped.id} in the work area .*no-such-work-area \\(RS_TMP_DIR\\)`));
    const ctx = { config: loadConfig({ RS_BACKUP_DIR: store }).config!, log: quiet, signal: new AbortController().signal };
    await expect(verifyBackup(ctx, noWorkArea(), gzipped)).rejects.toThrow(/RS_TMP_DIR/);
  });

  it('the CLI stages in RS_TMP_DIR and leaves it empty; a missing one stops only the commands that read backups', async () => {
    const area = join(work, 'area');
    await mkdir(area);
    for (const args of [['stats', gzipped.id], ['inspect', gzipped.id], ['verify', gzipped.id], ['diff', plain.id, gzipped.id]]) {
      const res = await runCli(args, env({ RS_TMP_DIR: area }));
      expect(res.code, `${args.join(' ')}: ${res.stderr}`).toBe(0);
      expect(await readdir(area), args.join(' ')).toEqual([]);
    }
    const missing = env({ RS_TMP_DIR: join(work, 'gone') });
    const stats = await runCli(['stats', gzipped.id], missing);
    expect(stats.code).toBe(2);
    expect(stats.stderr).toContain('RS_TMP_DIR was invalid');
    expect(stats.stderr).toContain('does not exist');
    expect((await runCli(['list'], missing)).code).toBe(0);
  });
});
