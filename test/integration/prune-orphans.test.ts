import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runInProcess } from '../helpers/in-process.js';

/**
 * Retention removes files a killed backup left (an artifact without its manifest, a temporary file) once they are an
 * hour old. Files reshifter never writes are someone else's: an operator's own `etcdctl snapshot save` kept next to
 * the backups, a checksum, a note. They are never deleted, whatever their age.
 */
let store: string;
let folder: string;

beforeAll(async () => {
  store = await mkdtemp(join(tmpdir(), 'rs-orphans-'));
  folder = join(store, 'default');
  await mkdir(folder, { recursive: true });
  const files = {
    // reshifter's own leftovers of killed runs: no manifest names them
    '20261101T030000.000Z-aaaaaa.raw.tar.zst': 'x',
    '.tmp-0123abcd-20261101T040000.000Z-bbbbbb.snapshot.db.zst': 'x',
    // an operator's files
    'pre-upgrade-etcd-snapshot.db': 'snapshot bytes',
    'README.txt': 'do not delete',
  };
  const old = new Date(Date.now() - 3 * 60 * 60 * 1000);
  for (const [name, body] of Object.entries(files)) {
    await writeFile(join(folder, name), body);
    await utimes(join(folder, name), old, old);
  }
});
afterAll(async () => {
  await rm(store, { recursive: true, force: true });
});

it('prune deletes the leftovers of killed backups and nothing reshifter did not write', async () => {
  const env = { RS_BACKUP_DIR: store };
  const dry = await runInProcess(['prune', '--dry-run', '--json'], env);
  expect(dry.code, dry.stderr).toBe(0);
  expect((JSON.parse(dry.stdout) as { orphansDeleted: string[] }).orphansDeleted.sort()).toEqual([
    'default/.tmp-0123abcd-20261101T040000.000Z-bbbbbb.snapshot.db.zst',
    'default/20261101T030000.000Z-aaaaaa.raw.tar.zst',
  ]);
  const res = await runInProcess(['prune'], env);
  expect(res.code, res.stderr).toBe(0);
  expect((await readdir(folder)).sort()).toEqual(['README.txt', 'pre-upgrade-etcd-snapshot.db']);
});
