import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupDiff } from '../../src/ops/diff.js';
import { runCli } from '../helpers/cli.js';
import type { TestEtcd } from '../helpers/etcd.js';
import { etcdWithSnapshotFile, type SnapshotFileSetup } from '../helpers/snapshot-file.js';

/**
 * `diff FROM TO` with a snapshot file on either side: an operator debugging "what changed since last night" has the
 * files etcdctl or k3s wrote, or one such file and a backup in the store. The output is that of two backups, the
 * file's side named by its path (strategy snapshot); a file whose data no longer matches etcd's sha256 trailer is
 * refused naming it; nothing is written but the work area, which is left empty.
 */
let setup: SnapshotFileSetup;
let etcd: TestEtcd;
let work: string;
let before: string;
let after: string;

const ADDED = ['/registry/configmaps/team-2/added-1', '/registry/secrets/team-3/added-2'];
const CHANGED = '/registry/configmaps/team-2/changed';
const REMOVED = '/registry/configmaps/team-1/removed';

/** No store configured unless asked: run in `work`, where a default ./backups would appear. */
const env = (extra: Record<string, string> = {}) => ({ RS_ETCD_ENDPOINTS: etcd.endpoint, RS_TMP_DIR: setup.tmp, ...extra });
const diff = (args: string[], extra: Record<string, string> = {}) => runCli(['diff', ...args], env(extra), { cwd: work });
const changes = (d: BackupDiff) => d.objects.map((o) => `${o.change} ${o.key}`).sort();
const EXPECTED = [...ADDED.map((k) => `added ${k}`), `changed ${CHANGED}`, `removed ${REMOVED}`].sort();

beforeAll(async () => {
  setup = await etcdWithSnapshotFile('diff-file', { namespaces: 3, podsPerNamespace: 4 }, async (client) => {
    await client.put(CHANGED).value('old value');
    await client.put(REMOVED).value('going away');
  });
  ({ etcd, work, file: before } = setup);
  for (const k of ADDED) await etcd.ctl(['put', k, 'new']);
  await etcd.ctl(['put', CHANGED, 'new value']);
  await etcd.ctl(['del', REMOVED]);
  after = await setup.save('etcd-snapshot-server-1-1765076400');
});

afterAll(async () => {
  await setup?.stop();
});

describe('diff <snapshot-file> <snapshot-file>', () => {
  it('gives exactly the keys added, changed and removed between them, with no store', async () => {
    const res = await diff([before, after, '--json']);
    expect(res.code, res.stderr).toBe(0);
    const d = JSON.parse(res.stdout) as BackupDiff;
    expect(d.from).toMatchObject({ id: before, strategy: 'snapshot' });
    expect(d.to).toMatchObject({ id: after, strategy: 'snapshot' });
    expect(Number.isNaN(Date.parse(d.from.createdAt))).toBe(false);
    expect(d.summary).toMatchObject({ added: 2, removed: 1, changed: 1, outside: 0 });
    expect(changes(d)).toEqual(EXPECTED);
    const text = await diff([before, after]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`+ ${ADDED[0]}\n`);
    expect(text.stdout).toContain(`~ ${CHANGED}\n`);
    expect(text.stdout).toContain(`- ${REMOVED}\n`);
    expect(text.stdout).toMatch(new RegExp(`2 added, 1 removed, 1 changed, \\d+ unchanged from ${before} to ${after}\\n$`));
    expect(existsSync(join(work, 'backups'))).toBe(false);
    expect(await readdir(setup.tmp)).toEqual([]);
  });

  it('reads a gzip copy of a file (decoded in the work area, which is left empty)', async () => {
    const gz = `${before}.gz`;
    await pipeline(createReadStream(before), createGzip(), createWriteStream(gz));
    const res = await diff([gz, after, '--json']);
    expect(res.code, res.stderr).toBe(0);
    const d = JSON.parse(res.stdout) as BackupDiff;
    expect(d.from).toMatchObject({ id: gz, strategy: 'snapshot' });
    expect(changes(d)).toEqual(EXPECTED);
    expect(await readdir(setup.tmp)).toEqual([]);
  });

  it('prints a path with a control character as keys are printed', async () => {
    const odd = join(work, 'snap\nshot.db');
    await writeFile(odd, await readFile(before));
    const res = await diff([odd, after]);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain(`from ${join(work, 'snap\\x0ashot.db')} to ${after}\n`);
    // A refusal names it the same way: a newline in a file name cannot fake a line of the message.
    const bytes = await readFile(after);
    bytes[bytes.indexOf(Buffer.from('new value'))] ^= 0x01;
    const damaged = join(work, 'damaged\n\x1b[2Jsnapshot.db');
    await writeFile(damaged, bytes);
    const refused = await diff([before, damaged]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`${join(work, 'damaged\\x0a\\x1b[2Jsnapshot.db')}: etcd's sha256 trailer does not match the data`);
    expect(refused.stderr).not.toContain('\x1b');
  });
});

describe('diff <snapshot-file> <backup-id>', () => {
  it('compares a file with a snapshot backup in a local store, either way round', async () => {
    const store = { RS_BACKUP_DIR: join(work, 'store') };
    const backup = await runCli(['backup', '--json'], env(store), { cwd: work });
    expect(backup.code, backup.stderr).toBe(0);
    const id = (JSON.parse(backup.stdout) as { id: string }).id;
    const res = await diff([before, id, '--json'], store);
    expect(res.code, res.stderr).toBe(0);
    const d = JSON.parse(res.stdout) as BackupDiff;
    expect(d.from).toMatchObject({ id: before, strategy: 'snapshot' });
    expect(d.to).toMatchObject({ id, strategy: 'snapshot' });
    expect(changes(d)).toEqual(EXPECTED);
    const back = JSON.parse((await diff(['latest', before, '--json'], store)).stdout) as BackupDiff;
    expect(back.summary).toMatchObject({ added: 1, removed: 2, changed: 1 });
    expect(await readdir(setup.tmp)).toEqual([]);
  });
});

describe('diff of a file that is no snapshot to compare', () => {
  it('refuses a file whose data no longer matches its sha256 trailer, naming it (exit 1)', async () => {
    const changed = join(work, 'flipped.db');
    const bytes = await readFile(after);
    const at = bytes.indexOf(Buffer.from('new value'));
    expect(at).toBeGreaterThan(0);
    bytes[at] ^= 0x01;
    await writeFile(changed, bytes);
    const res = await diff([before, changed]);
    expect(res.code).toBe(1);
    expect(res.stdout).toBe('');
    expect(res.stderr).toContain(`${changed}: etcd's sha256 trailer does not match the data (the file was changed or damaged); it was not compared`);
    expect(await readdir(setup.tmp)).toEqual([]);
  });

  it('a missing file, a folder and a damaged zip: the messages stats gives', async () => {
    const zip = join(work, 'on-demand-server-1.zip');
    // A zip's first header and nothing readable after it: refused as stats refuses it (a whole k3s zip is read).
    await writeFile(zip, Buffer.concat([Buffer.from('PK\x03\x04', 'latin1'), Buffer.alloc(64)]));
    for (const given of [join(work, 'missing.db'), setup.tmp, zip]) {
      const stats = await runCli(['stats', given], env(), { cwd: work });
      const res = await diff([before, given]);
      expect(res.code, given).toBe(stats.code);
      // The same message; only the usage lines after a usage error name the command.
      const said = (s: string, command: string) => s.split('\n').filter((l) => !l.startsWith('{') && !l.includes(`reshifter ${command}`) && !l.includes(`help ${command}`));
      expect(said(res.stderr, 'diff'), given).toEqual(said(stats.stderr, 'stats'));
      expect(said(res.stderr, 'diff').join('\n'), given).toContain(given);
    }
    expect(existsSync(join(work, 'backups'))).toBe(false);
  });
});
