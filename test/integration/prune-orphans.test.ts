import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { createLogger } from '../../src/log.js';
import { prune } from '../../src/ops/prune.js';
import { BackupRepository } from '../../src/store/backup-repository.js';
import { createStore } from '../../src/store/create-store.js';
import { runInProcess } from '../helpers/in-process.js';
import { startS3, type TestS3 } from '../helpers/s3.js';

/**
 * Retention removes files a killed backup left (an artifact without its manifest, a temporary file) once they are an
 * hour old. Files reshifter never writes are someone else's: an operator's own `etcdctl snapshot save` kept next to
 * the backups, a checksum, a note, or a copy of one of reshifter's own files under a name of the operator's
 * (`<id>.manifest.json.bak`, `<id>.snapshot.db.zst.orig`). They are never deleted, whatever their age: only the exact
 * names reshifter writes are. Before, any `<id>.*` of a deleted backup was swept an hour after it was deleted.
 */
let store: string;
let folder: string;
let s3: TestS3;

/** reshifter's own leftovers of killed runs: no manifest names them. */
const LEFTOVERS = ['20261101T030000.000Z-aaaaaa.raw.tar.zst', '.tmp-0123abcd-20261101T040000.000Z-bbbbbb.snapshot.db.zst', '20261101T050000.000Z-cccccc.render.jsonl.gz.age'];
/** An operator's files, some named after a backup reshifter deleted. */
const OPERATORS = [
  'pre-upgrade-etcd-snapshot.db',
  'README.txt',
  '20261101T030000.000Z-aaaaaa.manifest.json.bak',
  '20261101T030000.000Z-aaaaaa.snapshot.db.zst.orig',
  '20261101T060000.000Z-dddddd.snapshot.db.sha256',
  '20261101T060000.000Z-dddddd',
  '.tmp-notes',
  '.tmp-0123abcd-20261101T030000.000Z-aaaaaa.manifest.json.bak',
];

beforeAll(async () => {
  store = await mkdtemp(join(tmpdir(), 'rs-orphans-'));
  folder = join(store, 'default');
  await mkdir(folder, { recursive: true });
  const old = new Date(Date.now() - 3 * 60 * 60 * 1000);
  for (const name of [...LEFTOVERS, ...OPERATORS]) {
    await writeFile(join(folder, name), 'x');
    await utimes(join(folder, name), old, old);
  }
  s3 = await startS3();
});
afterAll(async () => {
  await s3?.stop();
  await rm(store, { recursive: true, force: true });
});

it('prune deletes the leftovers of killed backups and nothing reshifter did not write', async () => {
  const env = { RS_BACKUP_DIR: store };
  const dry = await runInProcess(['prune', '--dry-run', '--json'], env);
  expect(dry.code, dry.stderr).toBe(0);
  expect((JSON.parse(dry.stdout) as { orphansDeleted: string[] }).orphansDeleted.sort()).toEqual(LEFTOVERS.map((n) => `default/${n}`).sort());
  const res = await runInProcess(['prune'], env);
  expect(res.code, res.stderr).toBe(0);
  expect((await readdir(folder)).sort()).toEqual([...OPERATORS].sort());
});

it('in S3 the same: only the exact names reshifter writes are swept', async () => {
  const loaded = loadConfig({ ...s3.env });
  if (!loaded.config) throw new Error(loaded.errors.join('; '));
  const s3Store = createStore(loaded.config.store);
  try {
    for (const name of [...LEFTOVERS, ...OPERATORS]) await s3Store.put(`default/${name}`, Readable.from([Buffer.from('x')]));
    const repo = new BackupRepository(s3Store, 'default');
    // s3rver dates objects now: retention runs as if three hours later.
    const later = new Date(Date.now() + 3 * 60 * 60 * 1000);
    const result = await prune({ config: loaded.config, log: createLogger('silent') }, repo, { now: later });
    expect(result.orphansDeleted.sort()).toEqual(LEFTOVERS.map((n) => `default/${n}`).sort());
    const left = await s3Store.list('default/', { pending: true });
    expect(left.map((o) => o.key.slice('default/'.length)).sort()).toEqual([...OPERATORS].sort());
  } finally {
    await s3Store.close();
  }
});
