import { randomBytes, createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import { loadConfig } from '../../src/config/load-config.js';
import { KEY_DUMP_CONTENT_TYPE, SNAPSHOT_CONTENT_TYPE } from '../../src/core/content-type.js';
import { AbortedError } from '../../src/core/errors.js';
import { createLogger } from '../../src/log.js';
import type { OpContext } from '../../src/ops/context.js';
import { diffBackups } from '../../src/ops/diff.js';
import { openBackup } from '../../src/ops/open-backup.js';
import { BackupRepository } from '../../src/store/backup-repository.js';
import { LocalStore } from '../../src/store/local-store.js';

/** A local store that notes every object read from it. */
class WatchedStore extends LocalStore {
  readonly reads: string[] = [];
  override async get(key: string): Promise<Readable> {
    this.reads.push(key);
    return super.get(key);
  }
}

/**
 * Every reader of a stored backup goes through openBackup, which refuses a backup it cannot decode before reading its
 * artifact: a diff of an encrypted backup without an identity used to download the whole artifact first.
 */
describe('openBackup', () => {
  let dir: string;
  let store: WatchedStore;
  let repo: BackupRepository;
  const backups: Manifest[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rs-open-'));
    store = new WatchedStore(dir);
    repo = new BackupRepository(store, 'c');
    for (const id of ['20260101T000000.000Z-aaaaaa', '20260102T000000.000Z-bbbbbb']) {
      const bytes = randomBytes(64 * 1024);
      const m: Manifest = {
        format: 1, id, cluster: 'c', strategy: 'snapshot', createdAt: `${id.slice(0, 4)}-01-0${id[7]}T00:00:00.000Z`,
        artifact: `${id}.snapshot.db.zst.age`, contentType: SNAPSHOT_CONTENT_TYPE, compression: 'zstd', encryption: 'age',
        sha256: createHash('sha256').update(bytes).digest('hex'), sizeBytes: bytes.length, rawSizeBytes: bytes.length,
        etcd: { version: '3.4.23', revision: 1, apiVersion: 'v3' }, tool: { name: 'reshifter', version: '0.1.0' },
      };
      await repo.putArtifact(m.artifact, Readable.from([bytes]));
      await repo.putManifest(m);
      backups.push(m);
    }
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const ctx = (): OpContext => {
    const loaded = loadConfig({ RS_BACKUP_DIR: dir });
    if (!loaded.config) throw new Error(loaded.errors.join('; '));
    return { config: loaded.config, log: createLogger('silent'), signal: new AbortController().signal };
  };
  const artifactReads = () => store.reads.filter((k) => !k.endsWith('.manifest.json'));

  it('refuses an encrypted backup without an identity before reading its artifact', async () => {
    store.reads.length = 0;
    await expect(openBackup(repo, backups[0]!, {})).rejects.toThrow(/encrypted with age: set RS_ENCRYPTION_IDENTITY_FILE/);
    expect(artifactReads()).toEqual([]);
  });

  it('diff of encrypted backups without an identity fails before downloading either', async () => {
    store.reads.length = 0;
    await expect(diffBackups(ctx(), repo, backups[0]!, backups[1]!)).rejects.toThrow(/encrypted with age: set RS_ENCRYPTION_IDENTITY_FILE/);
    expect(artifactReads()).toEqual([]);
  });

  /** A key dump in the store, as it is (read in place) or zstd-compressed (read through a held handle). */
  async function storedDump(id: string, compression: 'none' | 'zstd'): Promise<Manifest> {
    const bytes = randomBytes(4 * 1024 * 1024);
    const m: Manifest = {
      ...backups[0]!, id, strategy: 'raw', artifact: `${id}.tar${compression === 'zstd' ? '.zst' : ''}`, contentType: KEY_DUMP_CONTENT_TYPE, compression, encryption: 'none',
      sha256: createHash('sha256').update(bytes).digest('hex'), sizeBytes: bytes.length, rawSizeBytes: bytes.length,
    };
    await repo.putArtifact(m.artifact, Readable.from([bytes]));
    await repo.putManifest(m);
    return m;
  }

  // SIGTERM while a local backup was being read said 'reading backup <id> at <path> failed: ...', which reads as a
  // damaged backup; the read names what it was for and that it stopped, as verify and diff do.
  it.each([['none'], ['zstd']] as const)('a read (compression %s) stopped by the signal says "<purpose> of backup <id> stopped", an AbortedError', async (compression) => {
    const m = await storedDump(`2026010${compression === 'none' ? 3 : 4}T000000.000Z-cccccc`, compression);
    const controller = new AbortController();
    controller.abort(new Error('received SIGTERM'));
    const err = await openBackup(repo, m, {}, controller.signal, { purpose: 'stats' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortedError);
    expect((err as Error).message).toBe(`stats of backup ${m.id} stopped: received SIGTERM`);
  });

  it('a key dump read after it was opened stops with the same words when the signal comes', async () => {
    const m = await storedDump('20260105T000000.000Z-dddddd', 'none');
    const controller = new AbortController();
    const opened = await openBackup(repo, m, {}, controller.signal, { purpose: 'restore --dry-run' });
    try {
      if (opened.kind !== 'key dump') throw new Error(opened.kind);
      controller.abort(new Error('received SIGINT'));
      const err = await (async () => {
        for await (const _ of opened.items()) void _;
      })().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AbortedError);
      expect((err as Error).message).toBe(`restore --dry-run of backup ${m.id} stopped: received SIGINT`);
    } finally {
      await opened.close();
    }
  });
});
