import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

let work: string | undefined;
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

it("the README's first command: demo backs up a throwaway etcd into ./backups, lists and verifies it", async () => {
  work = await mkdtemp(join(tmpdir(), 'rs-demo-'));
  const res = await runCli(['demo'], {}, { cwd: work });
  expect(res.stderr).not.toContain('"level":"error"');
  expect(res.code).toBe(0);
  expect(res.stdout).toMatch(/loaded \d+ Kubernetes-like keys/);
  expect(res.stdout).toMatch(/verify: ok\s+sha256/);
  expect(res.stdout).toMatch(/verify: ok\s+content/);
  const files = await readdir(join(work, 'backups', 'default'));
  expect(files.filter((f) => f.endsWith('.manifest.json'))).toHaveLength(1);
  expect(files.filter((f) => f.endsWith('.snapshot.db.zst'))).toHaveLength(1);
});
