import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = new URL('../../', import.meta.url).pathname;
/** The V8 flags of dist/main.js's first line: the launcher's and the image's. */
const FLAGS = readFileSync(join(ROOT, 'dist/main.js'), 'utf8').split('\n')[0]!.split(/\s+/).slice(3);
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** `version` from the dist/ of `root`, under the launcher's flags, with Node's compile-cache debugging on when asked. */
function version(root: string, debug = false): { code: number | null; stdout: string; stderr: string } {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', ...(debug && { NODE_DEBUG_NATIVE: 'COMPILE_CACHE' }) };
  const r = spawnSync(process.execPath, [...FLAGS, join(root, 'dist/main.js'), 'version'], { env, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

let scratch: string | undefined;
afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** A copy of dist/ beside the repository's node_modules, whose compile cache `prepare` may change. */
function copyOfInstall(prepare: (cache: string) => void): string {
  scratch ??= mkdtempSync(join(tmpdir(), 'rs-compile-cache-'));
  const root = mkdtempSync(join(scratch, 'install-'));
  cpSync(join(ROOT, 'dist'), join(root, 'dist'), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'));
  cpSync(join(ROOT, 'package.json'), join(root, 'package.json'));
  rmSync(join(root, 'dist/compile-cache'), { recursive: true, force: true });
  prepare(join(root, 'dist/compile-cache'));
  return root;
}

/**
 * Every start compiled the CLI's modules again (~25 ms of CPU of a backup, issue #16). `npm run build` now fills
 * dist/compile-cache/ under the launcher's flags and main.ts enables it: a command takes its modules' code from there.
 */
describe("Node's compile cache of the install", () => {
  it('a command under the launcher flags takes its modules from the cache `npm run build` made', () => {
    const r = version(ROOT, true);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(VERSION);
    expect(r.stderr).toMatch(/V8 code cache for ESM file:\/\/\S+\/dist\/cli-main\.js was accepted/);
    expect(r.stderr).toMatch(/V8 code cache for ESM file:\/\/\S+\/dist\/cli\.js was accepted/);
  });

  it('serves root and the image user (uid 1000), which Node gives folders of their own, with files readable to both', () => {
    const r = version(ROOT, true);
    const used = /resolved path \S+ \+ (\S+) ->/.exec(r.stderr)?.[1];
    expect(used).toMatch(/-\d+$/);
    const cache = join(ROOT, 'dist/compile-cache');
    for (const uid of [0, 1000]) {
      const dir = join(cache, used!.replace(/-\d+$/, `-${uid}`));
      // The build's files are readable to all (a run as root afterwards may add files of its own, 0600 as Node makes them).
      const readable = readdirSync(dir).filter((f) => (statSync(join(dir, f)).mode & 0o044) === 0o044);
      expect(readable.length).toBeGreaterThan(100);
    }
  });

  it('runs the same, and says nothing of it, when the cache folder is missing or cannot be a folder', () => {
    const missing = copyOfInstall(() => {});
    const unusable = copyOfInstall((cache) => writeFileSync(cache, 'not a folder'));
    for (const root of [missing, unusable]) {
      const r = version(root);
      expect(r).toEqual({ code: 0, stdout: expect.stringContaining(VERSION) as string, stderr: '' });
    }
  });
});
