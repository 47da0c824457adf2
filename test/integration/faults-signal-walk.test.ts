import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { countKeys, listFiles, loadBigValues, terminateWhen } from '../helpers/faults.js';

const PRELOAD = new URL('../helpers/preload/slow-snapshot-reads.mjs', import.meta.url).pathname;
const KEYS = 1000;
/**
 * How long a signalled command may take to exit: generous for two busy cores, and far below the walk's own length
 * with the slowed reads (many seconds; the restore's first pass reads longer still before its first key), which is
 * what a command that ignored the signal until the walk ended took.
 */
const EXIT_WITHIN_MS = 5_000;


/**
 * SIGTERM/SIGINT while a snapshot's keys are walked offline (`inspect --keys`, `inspect --render`, `restore --keys`):
 * the walk is read from a local file by no stream the signal stops, and used to run to its end, however long a big
 * snapshot took (inspect then exited 0, its listing complete after the signal). Now it stops at once, exit 1, in the
 * words a read stopped earlier uses; a restore says how many keys it wrote. The reads of the snapshot file are slowed
 * (test/helpers/preload/slow-snapshot-reads.mjs), so that the signal always lands mid-walk.
 */
describe('SIGTERM mid-walk of a snapshot', () => {
  let source: TestEtcd;
  let dir: string;
  let store: string;
  let id: string;
  let marker: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rs-signal-walk-'));
    store = join(dir, 'store');
    source = await startEtcd();
    await loadBigValues(source.endpoint, KEYS, 24 * 1024);
    // Uncompressed into a local store: the snapshot is read in place, as the stored file <id>.snapshot.db.
    const made = await runCli(['backup', '--json'], { RS_ETCD_ENDPOINTS: source.endpoint, RS_BACKUP_DIR: store, RS_COMPRESSION: 'none' });
    expect(made.code, made.stderr).toBe(0);
    id = (JSON.parse(made.stdout) as { id: string }).id;
  });
  afterAll(async () => {
    await source?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  let runs = 0;
  /**
   * Runs `args` with the snapshot's reads slowed, and sends SIGTERM once the snapshot is being read (and `ready` holds
   * for what the command logged) and a moment on: well into the walk, which reads for many seconds.
   */
  async function signalMidWalk(args: string[], extra: Record<string, string> = {}, ready: (stderr: string) => boolean = () => true) {
    marker = join(dir, `reading-${++runs}`);
    const env = {
      RS_BACKUP_DIR: store,
      NODE_OPTIONS: `--import=${PRELOAD}`,
      RESHIFTER_TEST_SLOW_READS: '\\.snapshot\\.db$',
      RESHIFTER_TEST_READ_DELAY_MS: '800',
      RESHIFTER_TEST_READ_MARKER: marker,
      ...extra,
    };
    return terminateWhen(args, env, (stderr) => existsSync(marker) && ready(stderr), 'the snapshot to be read', 500);
  }

  const expectStopped = ({ res, exitMs }: { res: { code: number | null; stderr: string }; exitMs: number }, message: string) => {
    expect(res.stderr).toMatch(/signal received: stopping/);
    expect(res.stderr).toContain(`reshifter: ${message}\n`);
    expect(res.stderr).not.toMatch(/this is a bug|second signal|failed|damaged|corrupt/);
    expect(res.code, res.stderr).toBe(1);
    expect(exitMs).toBeLessThan(EXIT_WITHIN_MS);
  };

  it.each([['--keys'], ['--render']])('inspect <id> %s: exit 1 at once, "inspect of backup <id> stopped", and before any row nothing on stdout', async (mode) => {
    const out = await signalMidWalk(['inspect', id, mode]);
    expectStopped(out, `inspect of backup ${id} stopped: received SIGTERM`);
    // Not a head alone, which reads as the listing of an empty snapshot.
    expect(out.res.stdout).toBe('');
  });

  it.each(['--keys', '--render', '--render --json'])('inspect <id> %s stopped after rows: its output ends saying it is incomplete', async (flags) => {
    const mode = flags.split(' ');
    marker = join(dir, `reading-${++runs}`);
    const env = { RS_BACKUP_DIR: store, NODE_OPTIONS: `--import=${PRELOAD}`, RESHIFTER_TEST_SLOW_READS: '\\.snapshot\\.db$', RESHIFTER_TEST_READ_DELAY_MS: '400', RESHIFTER_TEST_READ_MARKER: marker };
    // SIGTERM once the first rows are out, mid-walk. Rows come out in bursts (~600 of the 1000 after one read of big
    // pages), so the signal has the time of one slowed read to land before the walk is over: 400 ms a read (30 ms
    // failed under a loaded CI, its child's last rows out before the test had read the first).
    const res = await runCli(['inspect', id, ...mode], env, {
      onStart: (c) => {
        let out = '';
        const onData = (d: Buffer) => {
          out += d.toString();
          if ((out.match(/\/registry\/configmaps\/big\//g) ?? []).length < 5) return;
          // Once: a second signal exits at once.
          c.stdout!.off('data', onData);
          c.kill('SIGTERM');
        };
        c.stdout!.on('data', onData);
      },
    });
    expectStopped({ res, exitMs: 0 }, `inspect of backup ${id} stopped: received SIGTERM`);
    const lines = res.stdout.trimEnd().split('\n');
    expect(lines.filter((l) => l.includes('/registry/configmaps/big/')).length).toBeLessThan(KEYS);
    const why = `inspect of backup ${id} stopped: received SIGTERM: the rows above are not all the keys`;
    expect(lines.at(-1)).toBe(mode.includes('--json') ? JSON.stringify({ incomplete: why }) : `# incomplete: ${why}`);
  });

  it('inspect <file> --keys: exit 1 at once, "inspect of <file> stopped"', async () => {
    const file = join(store, 'default', `${id}.snapshot.db`);
    expect(await listFiles(join(store, 'default'))).toContain(`${id}.snapshot.db`);
    const out = await signalMidWalk(['inspect', file, '--keys']);
    expectStopped(out, `inspect of ${file} stopped: received SIGTERM`);
    expect(out.res.stdout.match(/\/registry\/configmaps\/big\//g) ?? []).not.toHaveLength(KEYS);
  });

  // Before: the status of a snapshot (`inspect <file>`, and the status that stats, diff and restore --keys read first)
  // saw no signal until its scan of the whole file was over (seconds at GBs): Ctrl-C was logged ("signal received:
  // stopping"), then the status printed whole and the exit code was 0.
  it('inspect <file> (its status): exit 1 at once, nothing on stdout', async () => {
    const file = join(store, 'default', `${id}.snapshot.db`);
    const status = await signalMidWalk(['inspect', file]);
    expectStopped(status, `inspect of ${file} stopped: received SIGTERM`);
    expect(status.res.stdout).toBe('');
  });

  // Before: stats (and diff, restore --keys) of a snapshot file stopped mid-walk said "inspect of <file> stopped", a
  // command the operator had not run.
  it('stats <file> and diff <file> <file>: exit 1 at once, naming the command that stopped', async () => {
    const file = join(store, 'default', `${id}.snapshot.db`);
    expectStopped(await signalMidWalk(['stats', file]), `stats of ${file} stopped: received SIGTERM`);
    // Cut off in the status of one side, or in the walk of both: either way diff's own words, naming both sides.
    const diff = await signalMidWalk(['diff', file, file]);
    expect(diff.res.stderr).toMatch(/^reshifter: diff of \S+ and \S+ stopped: received SIGTERM$/m);
    expect(diff.res.code, diff.res.stderr).toBe(1);
    expect(diff.res.stderr).not.toMatch(/inspect of/);
  });

  // The structural walk of verify (and inspect's summary) read pages with no signal to look at: after SIGTERM it went
  // on to the end of the file (minutes for a big snapshot) before the command said it stopped.
  it('verify <id>: exit 1 at once, "verify of backup <id> stopped", nothing printed as checked', async () => {
    const out = await signalMidWalk(['verify', id]);
    expectStopped(out, `verify of backup ${id} stopped: received SIGTERM; the backup was not checked in full`);
    expect(out.res.stdout).not.toMatch(/snapshot pages|snapshot sha256 trailer/);
  });

  it('verify <file>: exit 1 at once, "verify of <file> stopped"', async () => {
    const file = join(store, 'default', `${id}.snapshot.db`);
    const out = await signalMidWalk(['verify', file]);
    expectStopped(out, `verify of ${file} stopped: received SIGTERM; the file was not checked in full`);
    expect(out.res.stdout).toBe('');
  });

  it('restore <id> --keys: exit 1 at once, saying what it wrote; etcd as it says, and a second run completes it', async () => {
    const target = await startEtcd();
    try {
      const e = { RS_ETCD_ENDPOINTS: target.endpoint };
      // Once the target is open: the walk of the first pass has begun (or begins now).
      const out = await signalMidWalk(['restore', id, '--keys'], e, (stderr) => /"msg":"restore started"/.test(stderr));
      expectStopped(out, `restore of backup ${id} was interrupted before writing any key: etcd was not changed`);
      expect(await countKeys(target.endpoint)).toBe(0);
      const again = await runCli(['restore', id, '--keys', '--json'], { ...e, RS_BACKUP_DIR: store });
      expect(again.code, again.stderr).toBe(0);
      expect(JSON.parse(again.stdout)).toMatchObject({ written: KEYS });
      expect(await countKeys(target.endpoint)).toBe(KEYS);
    } finally {
      await target.stop();
    }
  });
});
