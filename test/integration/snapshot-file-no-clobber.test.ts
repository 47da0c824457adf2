import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import { loadConfig } from '../../src/config/load-config.js';
import { ConfigError } from '../../src/core/errors.js';
import { createLogger } from '../../src/log.js';
import { restoreSnapshotFile } from '../../src/ops/restore-snapshot-file.js';
import { BackupRepository } from '../../src/store/backup-repository.js';
import { ExistsError, LocalStore } from '../../src/store/local-store.js';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { StoreThatRaces } from '../helpers/racing-store.js';

/**
 * `restore <id> --snapshot-file FILE` checks that FILE does not exist before the download, and writes FILE only after
 * it. Before: the final step renamed the temporary file over FILE, so a file made there in between (another restore,
 * the operator's own copy) was replaced without a word. Now the final step is link(2), which refuses any entry there.
 */
let etcd: TestEtcd;
let work: string;
let manifest: Manifest;

beforeAll(async () => {
  etcd = await startEtcd();
  work = await mkdtemp(join(tmpdir(), 'rs-snapfile-noclobber-'));
  const res = await runCli(['backup', '--strategy', 'snapshot', '--json'], { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: join(work, 'store') });
  expect(res.code, res.stderr).toBe(0);
  manifest = JSON.parse(res.stdout) as Manifest;
});

afterAll(async () => {
  await Promise.all([etcd?.stop(), work && rm(work, { recursive: true, force: true })]);
});


describe('restore --snapshot-file never replaces a file made during the download', () => {
  it('refuses as the check before the download does, and leaves that file and no temporary file', async () => {
    const out = join(work, 'out');
    await mkdir(out);
    const target = join(out, 'restore.db');
    const loaded = loadConfig({ RS_BACKUP_DIR: join(work, 'store') });
    if (!loaded.config) throw new Error(loaded.errors.join('; '));
    const ctx = { config: loaded.config, log: createLogger('silent'), signal: new AbortController().signal };
    const store = new StoreThatRaces(join(work, 'store'), manifest.artifact, () => writeFile(target, 'the operator\'s own file'));
    const done = restoreSnapshotFile(ctx, new BackupRepository(store, 'default'), manifest, target);
    await expect(done).rejects.toThrow(ConfigError);
    await expect(done).rejects.toThrow(`--snapshot-file: ${target} exists already; name a new file (it is never overwritten)`);
    expect(await readFile(target, 'utf8')).toBe("the operator's own file");
    expect(await readdir(out)).toEqual(['restore.db']);
  });

  it('LocalStore.put with noClobber refuses an entry made while the body streams, and replaces without it', async () => {
    const dir = await mkdtemp(join(work, 'put-'));
    const store = new LocalStore(dir);
    const racing = (): Readable =>
      Readable.from((async function* () {
        yield Buffer.from('new ');
        await writeFile(join(dir, 'f'), 'old');
        yield Buffer.from('bytes');
      })());
    await expect(store.put('f', racing(), { noClobber: true })).rejects.toThrow(ExistsError);
    expect(await readFile(join(dir, 'f'), 'utf8')).toBe('old');
    expect(await readdir(dir)).toEqual(['f']);
    await store.put('f', racing());
    expect(await readFile(join(dir, 'f'), 'utf8')).toBe('new bytes');
  });
});
