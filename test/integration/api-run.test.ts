import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { JobView } from '../../src/core/jobs.js';
import { runDuring } from '../helpers/background-run.js';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { freePort } from '../helpers/ports.js';

/**
 * `run` as a user starts it (the built CLI): scheduled backups and the API's jobs go through one queue, so no two
 * writing jobs ever overlap, and the API lists both kinds.
 */
const TOKEN = 'run-test-token-1f2e3d4c5b';
let etcd: TestEtcd;
let work: string;

beforeAll(async () => {
  etcd = await startEtcd();
  work = await mkdtemp(join(tmpdir(), 'rs-api-run-'));
  await etcd.ctl(['put', '/registry/namespaces/default', 'x']);
});
afterAll(async () => {
  await etcd?.stop();
  await rm(work, { recursive: true, force: true });
});

/** A store (folder `name` of the work dir) holding one raw backup, and where the API of a `run` on a free port will be. */
async function rawBackupAndApi(name: string) {
  const store = join(work, name);
  const made = await runCli(['backup', '--json', '--strategy', 'raw'], { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: store });
  expect(made.code, made.stderr).toBe(0);
  const { id } = JSON.parse(made.stdout) as { id: string };
  const port = await freePort();
  return { store, id, port, base: `http://127.0.0.1:${port}/api/v1`, headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' } };
}

it('scheduled backups and API backups share the one-writer queue', async () => {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}/api/v1`;
  const headers = { Authorization: `Bearer ${TOKEN}` };
  let jobs: JobView[] = [];
  const env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: work, RS_SCHEDULE: '*/2 * * * * *', RS_HTTP_PORT: String(port), RS_API_TOKEN: TOKEN };
  const res = await runDuring(env, { msg: 'scheduler started', timeoutMs: 40_000 }, async () => {
    // Ask for backups while the scheduler is taking its own, until both kinds have run.
    const deadline = Date.now() + 25_000;
    while (Date.now() < deadline) {
      const post = await fetch(`${base}/backups`, { method: 'POST', headers });
      expect(post.status).toBe(202);
      await new Promise((r) => setTimeout(r, 700));
      jobs = (await (await fetch(`${base}/jobs`, { headers })).json()) as JobView[];
      const done = (trigger: string) => jobs.filter((j) => j.trigger === trigger && j.state === 'succeeded').length;
      if (done('schedule') >= 2 && done('api') >= 3) break;
    }
  });
  expect(res.stderr).toContain('"msg":"stopped"');
  // The start-up line names what this run serves: its own paths, the API and the UI.
  const listening = res.stderr.split('\n').find((l) => l.includes('"msg":"http server listening"'));
  expect(JSON.parse(listening ?? '{}')).toMatchObject({ port, paths: ['/healthz', '/readyz', '/livez', '/metrics', '/api/v1/', '/', '/ui/'] });
  const ran = jobs.filter((j) => j.startedAt !== undefined && j.finishedAt !== undefined && j.writes);
  expect(ran.filter((j) => j.trigger === 'schedule' && j.state === 'succeeded').length).toBeGreaterThanOrEqual(2);
  expect(ran.filter((j) => j.trigger === 'api' && j.state === 'succeeded').length).toBeGreaterThanOrEqual(3);
  // A finished job, scheduled or asked for, says how far it went: all of the backup (before: a scheduled one gave
  // whatever the last once-a-second sample caught, 0 for a short backup).
  for (const j of ran.filter((r) => r.state === 'succeeded')) expect(j.progress.bytes).toBe((j.result as { rawSizeBytes: number }).rawSizeBytes);
  // One writer at a time: sorted by start, each job finished before the next one started.
  const byStart = ran.sort((a, b) => Date.parse(a.startedAt!) - Date.parse(b.startedAt!));
  for (let i = 1; i < byStart.length; i++) {
    expect(Date.parse(byStart[i]!.startedAt!)).toBeGreaterThanOrEqual(Date.parse(byStart[i - 1]!.finishedAt!));
  }
  expect(res.stderr).not.toContain(TOKEN);
}, 60_000);

it("a restore or verify asked for through the API that fails is said in run's log, not only in the job list", async () => {
  // Before: 'restore started' and then nothing in the log of a restore that failed; the job list that said it is
  // gone with the process.
  const { store, id, port, base, headers } = await rawBackupAndApi('failed-jobs');
  // An etcd that is not there: the restore fails once its retries end.
  const env = { RS_ETCD_ENDPOINTS: `http://127.0.0.1:${await freePort()}`, RS_ETCD_TIMEOUT: '1s', RS_BACKUP_DIR: store, RS_HTTP_PORT: String(port), RS_API_TOKEN: TOKEN };
  const res = await runDuring(env, { msg: 'http server listening', timeoutMs: 30_000 }, async () => {
    const job = (await (await fetch(`${base}/restores`, { method: 'POST', headers, body: JSON.stringify({ backupId: id }) })).json()) as JobView;
    for (let view = job; view.state !== 'failed'; await new Promise((r) => setTimeout(r, 200))) {
      view = (await (await fetch(`${base}/jobs/${job.id}`, { headers })).json()) as JobView;
      expect(view.state).not.toBe('succeeded');
    }
  });
  const line = res.stderr.split('\n').find((l) => l.includes('"msg":"restore job failed"'));
  expect(JSON.parse(line ?? '{}')).toMatchObject({ level: 'error', kind: 'restore', trigger: 'api', params: { backupId: id } });
  expect(line).toMatch(/"err":"restore of backup \S+ failed \(.*etcd is unreachable.*\) before writing any key: etcd was not changed"/);
  expect(res.stderr).not.toContain(TOKEN);
}, 40_000);

it('a restore asked for while a backup runs still finds its backup: the retention after that backup keeps it', async () => {
  // Before: with RS_RETENTION_KEEP_LAST=1, the backup ahead of the restore in the queue made the chosen backup one
  // too many, its retention deleted it, and the accepted restore failed ("was deleted while it was being read").
  const { store, id, port, base, headers } = await rawBackupAndApi('in-use');
  const env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: store, RS_BACKUP_STRATEGY: 'raw', RS_RETENTION_KEEP_LAST: '1', RS_HTTP_PORT: String(port), RS_API_TOKEN: TOKEN };
  let restore: JobView | undefined;
  let backup: JobView | undefined;
  await runDuring(env, { msg: 'http server listening', timeoutMs: 40_000 }, async () => {
    // etcd frozen: the backup cannot finish before the restore is queued behind it.
    etcd.process.kill('SIGSTOP');
    try {
      backup = (await (await fetch(`${base}/backups`, { method: 'POST', headers, body: '{}' })).json()) as JobView;
      const post = await fetch(`${base}/restores`, { method: 'POST', headers, body: JSON.stringify({ backupId: id, dryRun: true }) });
      expect(post.status).toBe(202);
      restore = (await post.json()) as JobView;
      expect(restore.state).toBe('queued');
    } finally {
      etcd.process.kill('SIGCONT');
    }
    while (restore.state === 'queued' || restore.state === 'running') {
      await new Promise((r) => setTimeout(r, 200));
      restore = (await (await fetch(`${base}/jobs/${restore.id}`, { headers })).json()) as JobView;
    }
    backup = (await (await fetch(`${base}/jobs/${backup!.id}`, { headers })).json()) as JobView;
  });
  expect(backup?.state).toBe('succeeded');
  expect(restore?.error).toBeUndefined();
  expect(restore?.state).toBe('succeeded');
  const list = await runCli(['list', '--json'], { RS_BACKUP_DIR: store });
  expect((JSON.parse(list.stdout) as Array<{ id: string }>).map((m) => m.id)).toContain(id);
}, 60_000);
