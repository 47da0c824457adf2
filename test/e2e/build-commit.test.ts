import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';

/**
 * package.json's version is never bumped, so every build wrote `tool.version: "0.1.0"`, and a newer build's manifest
 * was refused as "written by a newer reshifter (reshifter 0.1.0)" to someone running 0.1.0. A build in a git clone now
 * records its commit (scripts/build-commit.mjs, dist/build.json): in every manifest it writes and in `version`.
 */
const ROOT = new URL('../..', import.meta.url).pathname;
/** The build records a commit only in a git clone (not in a tarball's tree, nor the Dockerfile's build stage). */
const inClone = (() => {
  try {
    return execFileSync('git', ['rev-parse', '--show-toplevel'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() !== '';
  } catch {
    return false;
  }
})();
let etcd: TestEtcd;
let dir: string;

beforeAll(async () => {
  etcd = await startEtcd();
  dir = await mkdtemp(join(tmpdir(), 'rs-build-commit-'));
});
afterAll(async () => {
  await Promise.all([etcd?.stop(), dir && rm(dir, { recursive: true, force: true })]);
});

it.skipIf(!inClone)('a build in a git clone records its commit in the manifests it writes and in version', async () => {
  const built = JSON.parse(await readFile(join(ROOT, 'dist', 'build.json'), 'utf8')) as { commit: string };
  expect(built.commit).toMatch(/^[0-9a-f]{12}(-modified)?$/);
  // A commit of this clone (HEAD when dist/ was built; a commit since does not rebuild it).
  execFileSync('git', ['cat-file', '-e', `${built.commit.slice(0, 12)}^{commit}`], { cwd: ROOT });
  const res = await runCli(['backup', '--strategy', 'snapshot'], { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: dir });
  expect(res.code, res.stderr).toBe(0);
  const [name] = (await readdir(join(dir, 'default'))).filter((f) => f.endsWith('.manifest.json'));
  const m = JSON.parse(await readFile(join(dir, 'default', name!), 'utf8')) as { tool: Record<string, string> };
  expect(m.tool).toEqual({ name: 'reshifter', version: expect.any(String) as string, commit: built.commit });
  const version = await runCli(['version', '--json'], {});
  expect(JSON.parse(version.stdout)).toMatchObject({ commit: built.commit });
  expect((await runCli(['version'], {})).stdout).toContain(` commit ${built.commit} `);
});
