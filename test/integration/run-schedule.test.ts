import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';

let etcd: TestEtcd;
let work: string;
beforeAll(async () => {
  etcd = await startEtcd();
  work = await mkdtemp(join(tmpdir(), 'rs-run-'));
  await etcd.ctl(['put', '/registry/namespaces/default', 'x']);
});
afterAll(async () => {
  await etcd?.stop();
  await rm(work, { recursive: true, force: true });
});

it('run takes scheduled backups, applies retention, and stops cleanly on SIGTERM', async () => {
  const env = {
    RS_ETCD_ENDPOINTS: etcd.endpoint,
    RS_BACKUP_DIR: work,
    RS_SCHEDULE: '*/2 * * * * *', // every two seconds (node-cron's six-field form)
    RS_RETENTION_KEEP_LAST: '2',
    RS_HTTP_PORT: '0',
  };
  let completed = 0;
  let signalled = false;
  const res = await runCli(['run'], env, {
    timeoutMs: 40_000,
    onStart: (child) => {
      child.stderr!.on('data', (d: Buffer) => {
        completed += (d.toString().match(/"msg":"backup completed"/g) ?? []).length;
        // Stop between backups, once three have completed.
        if (completed >= 3 && !signalled) {
          signalled = true;
          setTimeout(() => child.kill('SIGTERM'), 300);
        }
      });
    },
  });
  expect(completed).toBeGreaterThanOrEqual(3);
  expect(res.stderr).toContain('"msg":"scheduler started"');
  expect(res.stderr).toContain('"msg":"stopped"');
  expect(res.code).toBe(0);
  const listed = JSON.parse((await runCli(['list', '--json'], env)).stdout) as Manifest[];
  expect(listed).toHaveLength(2);
  expect(listed[0]!.createdAt > listed[1]!.createdAt).toBe(true);
});

it('run stores scheduled render listings without echoing them to stdout', async () => {
  const env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: join(work, 'render'), RS_BACKUP_STRATEGY: 'render', RS_SCHEDULE: '*/3 * * * * *', RS_HTTP_PORT: '0' };
  let signalled = false;
  const res = await runCli(['run'], env, {
    timeoutMs: 30_000,
    onStart: (child) => {
      child.stderr!.on('data', (d: Buffer) => {
        if (!signalled && d.toString().includes('"msg":"backup completed"')) {
          signalled = true;
          child.kill('SIGTERM');
        }
      });
    },
  });
  expect(res.code, res.stderr).toBe(0);
  expect(res.stdout).toBe('');
  const listed = JSON.parse((await runCli(['list', '--json'], env)).stdout) as Manifest[];
  expect(listed.map((m) => m.strategy)).toContain('render');
});
