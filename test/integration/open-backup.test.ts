import { randomBytes, createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import { loadConfig } from '../../src/config/load-config.js';
import { SNAPSHOT_CONTENT_TYPE } from '../../src/core/content-type.js';
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
});
