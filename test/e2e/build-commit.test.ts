import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runDuring } from '../helpers/background-run.js';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { freePort } from '../helpers/ports.js';

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

// run's API and metrics told the version only, which is not bumped per change: which build a pod runs was not known
// from a scrape or GET /api/v1/version. Both tell the commit now, as `version` does.
it.skipIf(!inClone)("run's GET /api/v1/version and reshifter_build_info tell the build's commit", async () => {
  const built = JSON.parse(await readFile(join(ROOT, 'dist', 'build.json'), 'utf8')) as { commit: string };
  const port = await freePort();
  let version: unknown;
  let metrics = '';
  const env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: dir, RS_SCHEDULE: '0 0 1 1 *', RS_HTTP_PORT: String(port) };
  const ran = await runDuring(env, { msg: 'scheduler started', timeoutMs: 60_000 }, async () => {
    version = await (await fetch(`http://127.0.0.1:${port}/api/v1/version`)).json();
    metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  });
  expect(version, ran.stderr).toEqual({ version: expect.any(String) as string, commit: built.commit, node: expect.stringMatching(/^v\d+/) as string });
  expect(metrics).toMatch(new RegExp(`^reshifter_build_info\\{version="[^"]+",commit="${built.commit}",node="v\\d[^"]*"\\} 1$`, 'm'));
});
