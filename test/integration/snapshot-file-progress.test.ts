import { createReadStream, createWriteStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import yazl from 'yazl';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { createLogger } from '../../src/log.js';
import type { OpContext } from '../../src/ops/context.js';
import { fileStats } from '../../src/ops/stats.js';
import { verifySnapshotFile } from '../../src/ops/verify.js';
import { loadBigValues } from '../helpers/faults.js';
import { loggedVerify, type ProgressLine } from '../helpers/progress-log.js';
import { etcdWithSnapshotFile, type SnapshotFileSetup } from '../helpers/snapshot-file.js';

/**
 * Before: `verify` (and inspect, stats, diff, restore --keys) of a k3s `--compress` zip or a gzip/zstd/age copy of a
 * snapshot file logged nothing while the file was decoded into the work area, nor while `verify` walked it, where a
 * snapshot backup reports `decode` and `walk`: a k3s database of several GB is unzipped and walked for tens of seconds in
 * silence. Now the decoding is said as it starts (`decoding FILE (zip) into the work area`), and both report their
 * progress. The verify is real; only the progress timer is faked, advanced 5 s at every turn of the event loop.
 */
let setup: SnapshotFileSetup;
let zip: string;
let gz: string;

beforeAll(async () => {
  setup = await etcdWithSnapshotFile('file-progress', { namespaces: 1, podsPerNamespace: 2 });
  await loadBigValues(setup.etcd.endpoint, 16, 256 * 1024);
  const file = await setup.save('on-demand-server-1-1764990100');
  zip = join(setup.work, 'on-demand-server-1-1764990100.zip');
  const z = new yazl.ZipFile();
  z.addBuffer(await readFile(file), 'on-demand-server-1-1764990100', { compress: true });
  z.end();
  await pipeline(z.outputStream, createWriteStream(zip));
  gz = join(setup.work, 'snapshot.db.gz');
  await pipeline(createReadStream(file), createGzip(), createWriteStream(gz));
});

afterAll(() => setup?.stop());

it.each([
  ['a k3s zip', () => zip, 'zip'],
  ['a gzip copy', () => gz, 'gzip'],
])('verify of %s says it decodes it, and reports `decode` and `walk` progress', async (_, path, wrapping) => {
  const lines = await loggedVerify({ RS_TMP_DIR: setup.tmp }, (ctx) => verifySnapshotFile(ctx, path()));
  expect(lines.some((l) => l.wrapping === wrapping && l.msg === `decoding ${path()} (${wrapping}) into the work area`), JSON.stringify(lines)).toBe(true);
  // The zip's total is the snapshot's size (the entry's), a gzip file's its own size (the bytes read).
  const total = wrapping === 'zip' ? (await stat(join(setup.work, 'on-demand-server-1-1764990100'))).size : (await stat(gz)).size;
  const decode = lines.filter((l) => l.msg === 'progress' && l.what === 'decode');
  expect(decode.length, JSON.stringify(lines)).toBeGreaterThan(0);
  expect(decode.every((p) => p.total === total && p.bytes! <= total)).toBe(true);
  const walk = lines.filter((l) => l.msg === 'progress' && l.what === 'walk');
  expect(walk.length, JSON.stringify(lines)).toBeGreaterThan(0);
  expect(walk.some((p) => p.bytes! > 0)).toBe(true);
});

// Before: Ctrl-C while a gzip (zstd, age) copy of a snapshot file was decoded into the work area was said as a file
// that does not decode: "snapshot.db.gz does not decompress (gzip): The operation was aborted", which reads as a
// damaged file. It is now the command's stop, as the walk's stop and the unzip's are; nothing is left in the work area.
it('a stop while a gzip copy is decoded is said as the command stopped, not as a file that does not decompress', async () => {
  const loaded = loadConfig({ RS_TMP_DIR: setup.tmp });
  if (!loaded.config) throw new Error(loaded.errors.join('; '));
  const controller = new AbortController();
  // Stopped as the decoding starts (the line that says so is logged just before it).
  const log = createLogger('info', {
    write: (l: string) => void ((JSON.parse(l) as ProgressLine).msg.startsWith('decoding ') && controller.abort(new Error('received SIGINT'))),
  });
  const ctx: OpContext = { config: loaded.config, log, signal: controller.signal };
  await expect(fileStats(ctx, gz)).rejects.toThrow(`stats of ${gz} stopped: received SIGINT`);
  expect(await readdir(setup.tmp)).toEqual([]);
});
