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
let etcd: TestEtcd;
let dir: string;

beforeAll(async () => {
  etcd = await startEtcd();
  dir = await mkdtemp(join(tmpdir(), 'rs-build-commit-'));
});
afterAll(async () => {
  await Promise.all([etcd?.stop(), dir && rm(dir, { recursive: true, force: true })]);
});

it('a build in a git clone records its commit in the manifests it writes and in version', async () => {
  const head = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  const built = JSON.parse(await readFile(join(ROOT, 'dist', 'build.json'), 'utf8')) as { commit: string };
  expect(built.commit).toMatch(new RegExp(`^${head}(-modified)?$`));
  const res = await runCli(['backup', '--strategy', 'snapshot'], { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: dir });
  expect(res.code, res.stderr).toBe(0);
  const [name] = (await readdir(join(dir, 'default'))).filter((f) => f.endsWith('.manifest.json'));
  const m = JSON.parse(await readFile(join(dir, 'default', name!), 'utf8')) as { tool: Record<string, string> };
  expect(m.tool).toEqual({ name: 'reshifter', version: expect.any(String) as string, commit: built.commit });
  const version = await runCli(['version', '--json'], {});
  expect(JSON.parse(version.stdout)).toMatchObject({ commit: built.commit });
  expect((await runCli(['version'], {})).stdout).toContain(` commit ${built.commit} `);
});
