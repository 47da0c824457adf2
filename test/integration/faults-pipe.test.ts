import { execFileSync, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { listFiles, loadBigValues } from '../helpers/faults.js';

const MAIN = new URL('../../dist/main.js', import.meta.url).pathname;
/** A real etcd snapshot file (test/unit/snapshot/fixtures/README.md), for `inspect <file>`, and one of its keys. */
const SNAPSHOT = new URL('../unit/snapshot/fixtures/small.db', import.meta.url).pathname;
const SNAPSHOT_KEY = '/registry/configmaps/ns-0/cm-005';

/** Runs `reshifter ARGS | READER` through a real shell; returns reshifter's own exit code, its stderr and what the reader printed. */
function throughPipe(args: string[], reader: string, env: Record<string, string>): Promise<{ code: number; stderr: string; read: string }> {
  return new Promise((resolve, reject) => {
    const quoted = [process.execPath, MAIN, ...args].map((a) => `'${a}'`).join(' ');
    const child = spawn('bash', ['-c', `${quoted} 2>"$ERR_FILE" | ${reader}; exit \${PIPESTATUS[0]}`], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let read = '';
    child.stdout.on('data', (d: Buffer) => (read += d.toString()));
    child.on('error', reject);
    child.on('close', async (code) => {
      resolve({ code: code ?? -1, stderr: await readFile(env.ERR_FILE!, 'utf8'), read });
    });
  });
}

/**
 * A reader that takes its time (`| less`): a listing waits for it rather than hold the rows it has not taken. stats
 * --keys of 30k keys prints ~2.3 MB (a render backup more); stdout never holds more than a buffer (1 MiB) and a page of rows, which the debug
 * line 'stdout backlog' reports at exit. Before, the whole listing waited in memory.
 */
describe('stdout read slowly', () => {
  let etcd: TestEtcd;
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rs-slow-reader-'));
    etcd = await startEtcd();
    const client = new Etcd3({ hosts: etcd.endpoint });
    try {
      for (let i = 0; i < 30_000; i += 125) {
        const puts = Array.from({ length: 125 }, (_, j) => ({ request_put: { key: Buffer.from(`/registry/configmaps/slow/cm-${String(i + j).padStart(6, '0')}`), value: Buffer.from('{"kind":"ConfigMap"}') } }));
        await client.kv.txn({ compare: [], success: puts, failure: [] });
      }
    } finally {
      client.close();
    }
  });
  afterAll(async () => {
    await etcd?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  // A render backup echoes each row as etcd's pages are read: before, the rows the reader had not taken piled up.
  it.each([
    ['stats --keys', ['stats', '--keys'], {}],
    ['a render backup', ['backup'], { RS_BACKUP_STRATEGY: 'render' }],
  ])('%s | a reader that starts late: every row arrives, and stdout never held much more than 1 MiB', async (_name, args, extra) => {
    const env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: join(dir, 'store'), ERR_FILE: join(dir, 'stderr'), LOG_LEVEL: 'debug', ...extra };
    const res = await throughPipe(args, '(sleep 6; cat)', env);
    expect(res.code, res.stderr).toBe(0);
    expect(res.read.split('\n').filter((l) => l.startsWith('/registry/configmaps/slow/'))).toHaveLength(30_000);
    expect(res.read.length).toBeGreaterThan(2 * 1024 * 1024);
    const backlog = res.stderr.split('\n').find((l) => l.includes('"msg":"stdout backlog"'));
    const peak = Number(/"peakBytes":(\d+)/.exec(backlog ?? '')?.[1]);
    expect(peak).toBeGreaterThan(1024 * 1024 - 64 * 1024);
    expect(peak).toBeLessThan(1.5 * 1024 * 1024);
  });

  it('a listing waiting for a reader that stopped reading stops at SIGTERM, exit 1, without a second signal', async () => {
    // stdout is a pipe this test stops reading after the first rows (so the listing has begun, however slow the
    // machine is to start it): the listing fills the pipe and its backlog, then waits.
    const child = spawn(process.execPath, [MAIN, 'stats', '--keys'], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', RS_ETCD_ENDPOINTS: etcd.endpoint, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await new Promise((resolve) => child.stdout!.once('data', () => resolve(child.stdout!.pause())));
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect(child.exitCode).toBeNull();
    child.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve('still running'), 10_000))]);
    if (code === 'still running') child.kill('SIGKILL');
    expect(code).toBe(1);
    expect(stderr).toContain('signal received: stopping');
    expect(stderr).not.toContain('second signal');
  });
});

/** Runs `reshifter ARGS > /dev/full`: every write to stdout fails with ENOSPC, as on a full disk. */
function intoFullDisk(args: string[], env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const full = openSync('/dev/full', 'w');
    const child = spawn(process.execPath, [MAIN, ...args], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', full, 'pipe'],
    });
    closeSync(full);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stderr }));
  });
}

/**
 * A reader that closes stdout early (`| true`, `| head -1`): printing is a side output of a backup, so the backup
 * is stored, verifies, and the exit code says so; no temporary file is left. Binary output that was not delivered
 * (`inspect --get --raw | head -c`) fails, as `cat` does.
 */
describe('stdout closed by its reader', () => {
  let etcd: TestEtcd;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rs-pipe-'));
    etcd = await startEtcd();
    // Thousands of listing rows: far more than a pipe buffer holds, so the reader is gone mid-backup.
    await loadBigValues(etcd.endpoint, 4000, 64);
  });
  afterAll(async () => {
    await etcd?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  for (const reader of ['true', 'head -1']) {
    it(`backup --strategy render | ${reader}: stored, verifies, exit 0, no temporary file`, async () => {
      const store = join(dir, reader.replace(/\W+/g, '-'));
      const env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: store, ERR_FILE: join(dir, 'stderr') };
      for (let run = 0; run < 3; run++) {
        const res = await throughPipe(['backup', '--strategy', 'render'], reader, env);
        expect(res.stderr).toMatch(/backup completed/);
        expect(res.code).toBe(0);
      }
      const files = await listFiles(store);
      expect(files.filter((f) => f.includes('.tmp-'))).toEqual([]);
      expect(files.filter((f) => f.endsWith('.manifest.json'))).toHaveLength(3);
      const list = await runCli(['list', '--json'], env);
      expect(JSON.parse(list.stdout)).toHaveLength(3);
      const verify = await runCli(['verify'], env);
      expect(verify.code).toBe(0);
    });
  }

  it('backup --strategy render | a reader that starts late: the listing arrives in full, exit 0', async () => {
    // The listing is far larger than a pipe holds, so most of it is still queued in the process when the backup ends:
    // the exit must wait for the reader rather than cut the output at the pipe's 64 KiB.
    const env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: join(dir, 'late-reader'), ERR_FILE: join(dir, 'stderr') };
    const res = await throughPipe(['backup', '--strategy', 'render'], '(sleep 1; wc -l)', env);
    expect(res.code, res.stderr).toBe(0);
    expect(Number(res.read.trim())).toBeGreaterThanOrEqual(4000);
  });

  it('list | head -1 still exits 0', async () => {
    const env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: join(dir, 'true'), ERR_FILE: join(dir, 'stderr') };
    const res = await throughPipe(['list'], 'head -1', env);
    expect(res.code).toBe(0);
    expect(res.stderr).not.toMatch(/this is a bug/);
  });

  // A command that only reads and prints has no one to print for once its reader is gone: it stops rather than read
  // a whole etcd (or snapshot) for nothing, and exits 0 as `cat` would. Before, it read on to the end.
  // The snapshot file is of this etcd (4000 keys): the small fixture's 8 KiB listing fits in the pipe, and was all
  // written before `head` left (CI saw no 'closed' then).
  const THIS_ETCD = '<snapshot of this etcd>';
  for (const [args, what] of [
    [['stats', '--keys'], 'stats'],
    [['inspect', THIS_ETCD, '--keys'], 'inspect'],
  ] as const) {
    it(`${args.join(' ').replace(THIS_ETCD, '<file>')} | head -1: stops, saying so, exit 0`, async () => {
      const env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: join(dir, 'none'), ERR_FILE: join(dir, 'stderr') };
      const file = join(dir, 'etcd.db');
      if ((args as readonly string[]).includes(THIS_ETCD)) execFileSync('etcdctl', ['--endpoints', etcd.endpoint, 'snapshot', 'save', file], { env: { ...process.env, ETCDCTL_API: '3' }, stdio: 'ignore' });
      const res = await throughPipe(args.map((a) => (a === THIS_ETCD ? file : a)), 'head -1', env);
      expect(res.code, res.stderr).toBe(0);
      expect(res.read.split('\n').filter(Boolean)).toHaveLength(1);
      expect(res.stderr).toContain(`stdout was closed by its reader: ${what} stops, as it has no one to print for`);
      expect(res.stderr).not.toMatch(/this is a bug|"level":50/);
    });
  }

  it('inspect --get --raw | head -c 10: the value was not delivered, exit 1 saying so', async () => {
    const store = join(dir, 'raw-get');
    // Its own TMPDIR: the downloaded copy of the backup must be gone afterwards too.
    const tmp = join(dir, 'tmp');
    await mkdir(tmp);
    const env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: store, ERR_FILE: join(dir, 'stderr'), TMPDIR: tmp };
    await loadBigValues(etcd.endpoint, 1, 1_000_000);
    expect((await runCli(['backup', '--strategy', 'snapshot'], env)).code).toBe(0);
    const res = await throughPipe(['inspect', 'latest', '--get', '/registry/configmaps/big/value-0000', '--raw'], 'head -c 10', env);
    expect(res.stderr).toContain('reshifter: inspect could not write its output in full: stdout was closed by its reader (EPIPE); what was written is incomplete');
    expect(res.stderr).not.toMatch(/this is a bug/);
    expect(res.code).toBe(1);
    expect((await listFiles(store)).filter((f) => f.includes('.tmp-'))).toEqual([]);
    expect(await readdir(tmp)).toEqual([]);
  });
});

/**
 * stdout redirected to a file on a full disk (`reshifter list --json > backups.json`): the file is cut short, so a
 * command whose output is what was asked for exits 1 saying so, where it exited 0 (and `list --json` and `version`
 * did not even warn). A backup's printed lines are a by-product: the backup is stored and exits 0, as before. Every
 * command says it in one sentence: stdout is full.
 */
describe('stdout on a full disk', () => {
  let etcd: TestEtcd;
  let dir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rs-full-stdout-'));
    etcd = await startEtcd();
    await loadBigValues(etcd.endpoint, 200, 64);
    env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: join(dir, 'store') };
    expect((await runCli(['backup', '--strategy', 'raw'], env)).code).toBe(0);
  });
  afterAll(async () => {
    await etcd?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const lines = [['list'], ['list', '--json'], ['inspect', 'latest', '--keys'], ['inspect', SNAPSHOT, '--get', SNAPSHOT_KEY], ['stats', 'latest', '--json'], ['version'], ['help']];
  for (const args of lines) {
    it(`${args.join(' ').replace(SNAPSHOT, '<file>')} > /dev/full: exit 1, saying stdout is full`, async () => {
      const res = await intoFullDisk(args, env);
      // A command whose output is all it does stops at the failure if it has not completed by then (below).
      expect(res.stderr).toMatch(new RegExp(`reshifter: ${args[0]} (completed, but )?could not write its output in full: stdout is full \\(ENOSPC: no space left on the device\\); what was written is incomplete`));
      expect(res.stderr).not.toMatch(/this is a bug/);
      expect(res.code).toBe(1);
    });
  }

  // Its bytes are the product: the first failed write fails it, in the words of the others (it said 'stdout was closed').
  for (const of of ['latest', SNAPSHOT]) {
    it(`inspect ${of === SNAPSHOT ? '<file>' : of} --get KEY --raw > /dev/full: exit 1, saying stdout is full`, async () => {
      const key = of === SNAPSHOT ? SNAPSHOT_KEY : '/registry/configmaps/big/value-0000';
      const res = await intoFullDisk(['inspect', of, '--get', key, '--raw'], env);
      expect(res.stderr).toContain('reshifter: inspect could not write its output in full: stdout is full (ENOSPC: no space left on the device); what was written is incomplete');
      expect(res.stderr).not.toMatch(/closed|the command goes on|this is a bug/);
      expect(res.code).toBe(1);
    });
  }

  // A listing (its output is all it does) stops at the first write that fails, as at a closed pipe: before, stdout
  // said "full: no more output is printed; the command goes on", and it read the whole snapshot for nothing.
  // Thousands of rows, so that the listing is under way, not done, when the failure of its first rows arrives.
  const manyKeys = async () => {
    const client = new Etcd3({ hosts: etcd.endpoint });
    try {
      for (let i = 0; i < 4000; i += 125) {
        const puts = Array.from({ length: 125 }, (_, j) => ({ request_put: { key: Buffer.from(`/registry/configmaps/full/cm-${String(i + j).padStart(6, '0')}`), value: Buffer.from('{"kind":"ConfigMap"}') } }));
        await client.kv.txn({ compare: [], success: puts, failure: [] });
      }
    } finally {
      client.close();
    }
  };
  for (const what of ['stats', 'inspect'] as const) {
    it(`${what} <snapshot file> --keys > /dev/full: stops at the first failed write, exit 1, saying stdout is full`, async () => {
      if (what === 'stats') await manyKeys();
      const file = join(dir, `${what}.db`);
      execFileSync('etcdctl', ['--endpoints', etcd.endpoint, 'snapshot', 'save', file], { env: { ...process.env, ETCDCTL_API: '3' }, stdio: 'ignore' });
      const res = await intoFullDisk([what, file, '--keys'], env);
      expect(res.stderr).toContain(`stdout is full: ${what} stops, as its output cannot be written`);
      expect(res.stderr).toContain(`reshifter: ${what} could not write its output in full: stdout is full (ENOSPC: no space left on the device); what was written is incomplete`);
      expect(res.stderr).not.toMatch(/the command goes on|completed, but|this is a bug/);
      expect(res.code).toBe(1);
    });
  }

  it('backup --strategy render > /dev/full: the backup is stored, exit 0', async () => {
    const res = await intoFullDisk(['backup', '--strategy', 'render'], env);
    expect(res.stderr).toMatch(/backup completed/);
    expect(res.stderr).toMatch(/stdout is full: no more output is printed/);
    expect(res.code).toBe(0);
    const list = await runCli(['list', '--json', '--strategy', 'render'], env);
    expect(JSON.parse(list.stdout)).toHaveLength(1);
  });
});
