import type { ChildProcess } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMANDS } from '../../src/cli.js';
import { runCli } from '../helpers/cli.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rs-cli-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('the built CLI', () => {
  it.each([['version'], ['--version'], ['-v'], ['-V']])('prints its version: %s', async (...args) => {
    const res = await runCli(args, {});
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^reshifter \d+\.\d+\.\d+/);
    expect(res.stderr).toBe('');
  });

  // README, Usage: after `npm ci && npm run build` the CLI is `npx reshifter`, which runs package.json's bin file itself
  // (its launcher line). tsc wrote it 0644, so after any rebuild (npm test, npm run demo) npx failed "Permission denied".
  it('is executable as package.json names it, as npx runs it', () => {
    const root = new URL('../../', import.meta.url).pathname;
    const { bin } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    expect(Object.keys(bin)).toEqual(['reshifter', 'rcli']);
    for (const file of new Set(Object.values(bin))) {
      const res = spawnSync(join(root, file), ['version'], { encoding: 'utf8' });
      expect(res.error, file).toBeUndefined();
      expect(res.status, file).toBe(0);
      expect(res.stdout).toMatch(/^reshifter \d+\.\d+\.\d+/);
    }
  });

  it('prints help with every command', async () => {
    const res = await runCli(['help'], {});
    expect(res.code).toBe(0);
    // Each command's usage starts a line of its own (a name in another command's summary does not count).
    expect(Object.keys(COMMANDS).length).toBeGreaterThan(10);
    for (const cmd of Object.keys(COMMANDS)) expect(res.stdout, cmd).toMatch(new RegExp(`^  ${cmd}( |$)`, 'm'));
  });

  it('with no command at all shows the help as a usage error (exit 2): a job given no arguments did nothing', async () => {
    const res = await runCli([], {});
    expect(res.code).toBe(2);
    expect(res.stdout).toBe('');
    expect(res.stderr).toMatch(/^reshifter: no command given\n/);
    expect(res.stderr).toMatch(/^  backup( |$)/m);
    expect((await runCli(['--help'], {})).code).toBe(0);
  });

  it.each([
    [['frobnicate'], /unknown command "frobnicate"/],
    [['list', '--colour'], /unknown option --colour for "list"/],
    [['backup', '--strategy'], /--strategy needs a value/],
  ])('%j is a usage error: exit 2', async (args, message) => {
    const res = await runCli(args, {});
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(message);
  });

  it('exits 2 naming every bad variable, before any work', async () => {
    const dir = join(work, 'never');
    const res = await runCli(['backup'], {
      RS_BACKUP_DIR: dir,
      RS_SCHEDULE: 'every hour',
      RS_RETENTION_MAX_AGE: 'forever',
      RS_COMPRESSION: 'brotli',
      RS_ETCD_CA_CERT: '/no/such/ca.pem',
    });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('RS_SCHEDULE was invalid: "every hour" is not a cron expression');
    expect(res.stderr).toContain('RS_RETENTION_MAX_AGE was invalid: "forever"');
    expect(res.stderr).toContain('RS_COMPRESSION was invalid: "brotli"');
    expect(res.stderr).toContain('RS_ETCD_CA_CERT was invalid: "/no/such/ca.pem" does not exist');
    expect(await readdir(dir).catch(() => 'absent')).toBe('absent');
  });

  it('checks a flag as the variable it overrides', async () => {
    const res = await runCli(['backup', '--strategy', 'bogus'], {});
    expect(res.code).toBe(2);
    // Named by the flag typed, not by the variable it stands for, which the operator never set.
    expect(res.stderr).toContain('--strategy was invalid: "bogus" should be one of');
    expect(res.stderr).not.toContain('RS_BACKUP_STRATEGY');
    // Elsewhere --strategy names a series to read, not how backups are taken: checked as a series.
    const list = await runCli(['list', '--strategy', 'bogus'], {});
    expect(list.code).toBe(2);
    expect(list.stderr).toContain('--strategy was invalid: "bogus" should be one of');
  });

  it('run with neither RS_SCHEDULE nor an HTTP port is a configuration error', async () => {
    const res = await runCli(['run'], { RS_HTTP_PORT: '0' });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('"run" needs RS_SCHEDULE (scheduled backups, e.g. "0 */6 * * *") or RS_HTTP_PORT');
  });
});

describe('a signal while the CLI loads', () => {
  const PRELOAD = new URL('../helpers/preload/slow-cli-load.mjs', import.meta.url).pathname;

  // Before: main's handlers came only once every module had loaded (~0.4 s); a SIGTERM before that (a pod deleted
  // right after it started) killed the process with Node's default, exit 143 and no word, one a moment later exit 1.
  it.each(['SIGTERM', 'SIGINT'] as const)('%s while the modules load: exit 1, "received <signal> before backup started; nothing was done"', async (sig) => {
    const store = join(work, `early-${sig}`);
    const marker = join(work, `loading-${sig}`);
    let child!: ChildProcess;
    const env = { RS_BACKUP_DIR: store, RS_ETCD_ENDPOINTS: 'http://127.0.0.1:1', NODE_OPTIONS: `--import=${PRELOAD}`, RESHIFTER_TEST_LOAD_MARKER: marker, RESHIFTER_TEST_HOLD_MS: '1500' };
    const result = runCli(['backup'], env, { onStart: (c) => (child = c) });
    const started = Date.now();
    while (!existsSync(marker)) {
      if (Date.now() - started > 10_000) throw new Error('the CLI never began loading dist/cli.js');
      await new Promise((r) => setTimeout(r, 5));
    }
    child.kill(sig);
    const res = await result;
    expect(res.stderr).toContain(`reshifter: received ${sig} before backup started; nothing was done\n`);
    expect({ code: res.code, signal: res.signal }).toEqual({ code: 1, signal: null });
    expect(await readdir(store).catch(() => [])).toEqual([]);
  });
});
