import { execFileSync, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const DIST = new URL('../../../dist/', import.meta.url).pathname;

/** The built-in modules Node has loaded once `modules` of dist/ are imported, in a fresh process. */
function builtinsAfterImporting(modules: readonly string[]): string[] {
  const script = `for (const m of ${JSON.stringify(modules)}) await import(${JSON.stringify(DIST)} + m);
    process.stdout.write(JSON.stringify(process.moduleLoadList));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  return (JSON.parse(out) as string[]).filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice('NativeModule '.length));
}

/**
 * bench/results/HISTORY.md: an ES import of node:http makes Node read all its exports, and one of them loads undici (its
 * fetch and WebSocket): ~70 ms of CPU at every start, about 3% of a 300 MB snapshot backup. The one-off commands must
 * not pay for it; `run` serves HTTP and does.
 */
describe('start-up of the one-off commands', () => {
  it('backup, restore, stats and explore do not load undici through an import of node:http', () => {
    const loaded = builtinsAfterImporting(['commands/backup.js', 'commands/restore.js', 'commands/stats.js', 'commands/explore.js']);
    expect(loaded).toContain('http'); // the v2 client and gRPC use it
    expect(loaded.filter((m) => m.includes('undici'))).toEqual([]);
  });

  it('the check sees undici when node:http is imported (run serves HTTP)', () => {
    expect(builtinsAfterImporting(['commands/run.js']).filter((m) => m.includes('undici'))).not.toEqual([]);
  });
});

/** Runs the built CLI with `args` in a fresh process; the packages it loaded, as a resolve hook saw them. */
function packagesLoadedBy(args: readonly string[]): string[] {
  const hook = `data:text/javascript,import { registerHooks } from 'node:module';
    registerHooks({ resolve(s, c, next) { const r = next(s, c); const m = /node_modules\\/([^/]+)\\//.exec(r.url);
      if (m) process.stderr.write('package ' + m[1] + '\\n'); return r; } });`;
  const res = spawnSync(process.execPath, ['--import', hook, `${DIST}main.js`, ...args], { encoding: 'utf8', env: { ...process.env, LOG_LEVEL: 'silent' } });
  expect(res.status, res.stderr).toBe(0);
  return [...new Set(res.stderr.split('\n').filter((l) => l.startsWith('package ')).map((l) => l.slice('package '.length)))];
}

/**
 * The status of a snapshot file (issue #16: as quick as `etcdctl snapshot status`) loads the zip reader only for a
 * file that begins as a zip (a Go Reshifter backup, a k3s zip), not for every snapshot.
 */
describe('start-up of inspect FILE', () => {
  const SMALL = new URL('../snapshot/fixtures/small.db', import.meta.url).pathname;

  it('does not load the zip reader for a snapshot file', () => {
    const loaded = packagesLoadedBy(['inspect', SMALL, '--json']);
    expect(loaded).toContain('@node-rs'); // the check sees the packages it loads
    expect(loaded).not.toContain('yauzl');
  });
});
