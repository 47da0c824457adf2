import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killStarted, startRun } from '../helpers/background-run.js';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { whileRunning } from '../helpers/faults.js';
import { freePort } from '../helpers/ports.js';
import { startS3 } from '../helpers/s3.js';
import { startS3Proxy } from '../helpers/s3-proxy.js';
import { startPushgateway, type TestPushgateway } from '../helpers/pushgateway.js';

interface Pushed {
  method: string;
  url: string;
  body: string;
}

/** A stand-in that records what it is sent and answers `status`: a gateway that fails. */
async function startGateway(status = 200): Promise<{ url: string; pushed: Pushed[]; server: Server }> {
  const pushed: Pushed[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      pushed.push({ method: req.method!, url: req.url!, body });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, pushed, server };
}

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const lines = (stderr: string) =>
  stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);

let etcd: TestEtcd;
let work: string;
beforeAll(async () => {
  etcd = await startEtcd();
  work = await mkdtemp(join(tmpdir(), 'rs-obs-'));
  await etcd.ctl(['put', '/registry/namespaces/default', 'x']);
});
afterAll(async () => {
  await etcd?.stop();
  await rm(work, { recursive: true, force: true });
});

/** The gateway's sample of `name` for one cluster's group with these labels, or undefined. */
async function pushed(gw: TestPushgateway, name: string, cluster: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  const want = { cluster, job: 'reshifter', ...labels };
  const line = (await gw.samples(name)).find((l) => Object.entries(want).every(([k, v]) => l.includes(`${k}="${v}"`)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('one-off commands and a real Pushgateway', () => {
  let gw: TestPushgateway;
  beforeAll(async () => {
    gw = await startPushgateway();
  });
  afterAll(async () => {
    await gw?.stop();
  });

  it('pushes the metrics of a successful backup under job and cluster, with the backup id on every log line of the run', async () => {
    const res = await runCli(['backup'], {
      RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: join(work, 'push'), RS_CLUSTER_NAME: 'prod-eu',
      RS_PUSHGATEWAY_URL: gw.url, RS_RETENTION_KEEP_LAST: '1',
    });
    expect(res.code, res.stderr).toBe(0);
    expect(await pushed(gw, 'reshifter_backup_total', 'prod-eu', { strategy: 'snapshot', outcome: 'success' })).toBe(1);
    // The stored artifact's size (compressed), not the snapshot's raw size.
    const completed = lines(res.stderr).find((l) => l.msg === 'backup completed') as { sizeBytes: number; rawSizeBytes: number };
    expect(completed.sizeBytes).not.toBe(completed.rawSizeBytes);
    expect(await pushed(gw, 'reshifter_backup_size_bytes', 'prod-eu', { strategy: 'snapshot' })).toBe(completed.sizeBytes);
    expect(await pushed(gw, 'reshifter_backup_raw_size_bytes', 'prod-eu', { strategy: 'snapshot' })).toBe(completed.rawSizeBytes);
    expect(await pushed(gw, 'reshifter_backup_last_success_timestamp_seconds', 'prod-eu')).toBeGreaterThan(Date.now() / 1000 - 60);
    expect(await pushed(gw, 'reshifter_backup_last_failure_timestamp_seconds', 'prod-eu')).toBeUndefined();
    expect(await pushed(gw, 'process_resident_memory_bytes', 'prod-eu')).toBeUndefined();
    const id = res.stdout.split('\t')[0];
    const logged = lines(res.stderr);
    expect(logged.map((l) => l.msg)).toEqual(expect.arrayContaining(['backup started', 'backup completed', 'retention applied', 'metrics pushed']));
    for (const l of logged) expect(l.backupId, JSON.stringify(l)).toBe(id);
  });

  it('pushes a failure without erasing the last success, and a gateway error does not change the exit code', async () => {
    const env = { RS_BACKUP_DIR: join(work, 'fail'), RS_CLUSTER_NAME: 'flaky', RS_PUSHGATEWAY_URL: gw.url };
    const ok = await runCli(['backup'], { ...env, RS_ETCD_ENDPOINTS: etcd.endpoint });
    expect(ok.code, ok.stderr).toBe(0);
    const lastSuccess = await pushed(gw, 'reshifter_backup_last_success_timestamp_seconds', 'flaky');
    expect(lastSuccess).toBeGreaterThan(0);

    const bad = await runCli(['backup'], { ...env, RS_ETCD_ENDPOINTS: `http://127.0.0.1:${await freePort()}`, RS_ETCD_TIMEOUT: '2s' });
    expect(bad.code).toBe(1);
    const failures = (await gw.samples('reshifter_backup_total')).filter((l) => l.includes('cluster="flaky"') && l.includes('outcome="failure"'));
    expect(failures.map((l) => l.slice(l.lastIndexOf(' ') + 1))).toEqual(['1']);
    expect(await pushed(gw, 'reshifter_backup_last_failure_timestamp_seconds', 'flaky')).toBeGreaterThan(Date.now() / 1000 - 60);
    expect(await pushed(gw, 'reshifter_backup_last_success_timestamp_seconds', 'flaky')).toBe(lastSuccess);
    expect(lines(bad.stderr).find((l) => l.msg === 'backup failed')?.backupId).toMatch(/^\d{8}T/);

    const down = await startGateway(500);
    try {
      const stillOk = await runCli(['backup'], { ...env, RS_ETCD_ENDPOINTS: etcd.endpoint, RS_PUSHGATEWAY_URL: down.url });
      expect(stillOk.code).toBe(0);
      expect(down.pushed).toHaveLength(1);
      expect(lines(stillOk.stderr).find((l) => l.msg === 'metrics push failed')?.err).toMatch(/500/);
    } finally {
      down.server.close();
    }
  });

  it("a failed backup or a restore leaves the gateway's retention counts of the last run that applied retention", async () => {
    // Before: both pushed reshifter_retention_failures_total 0, and an alert on a retention that kept failing (a
    // bucket policy denying deletes) resolved for a failed backup or a restore, which apply no retention.
    const s3 = await startS3('retention-push');
    const proxy = await startS3Proxy(s3.endpoint);
    const env = {
      RS_ETCD_ENDPOINTS: etcd.endpoint, ...s3.env, RS_S3_ENDPOINT: proxy.endpoint, RS_S3_RETRY_WINDOW: '2s', RS_BACKUP_STRATEGY: 'raw',
      RS_CLUSTER_NAME: 'prune-refused', RS_PUSHGATEWAY_URL: gw.url, RS_RETENTION_KEEP_LAST: '1',
    };
    const failures = () => pushed(gw, 'reshifter_retention_failures_total', 'prune-refused');
    try {
      expect((await runCli(['backup'], env)).code).toBe(0);
      expect(await failures()).toBe(0);
      proxy.fault = (r) => (r.op === 'DeleteObject' ? { status: 403, code: 'AccessDenied' } : undefined);
      const refused = await runCli(['backup', '--json'], env);
      expect(refused.code, refused.stderr).toBe(1);
      expect(await failures()).toBe(1);
      const bad = await runCli(['backup'], { ...env, RS_ETCD_ENDPOINTS: `http://127.0.0.1:${await freePort()}`, RS_ETCD_TIMEOUT: '2s' });
      expect(bad.code).toBe(1);
      expect(await failures()).toBe(1);
      const { id } = JSON.parse(refused.stdout) as { id: string };
      const restored = await runCli(['restore', id, '--skip-existing'], env);
      expect(restored.code, restored.stderr).toBe(0);
      expect(await pushed(gw, 'reshifter_restore_total', 'prune-refused', { outcome: 'success' })).toBe(1);
      expect(await failures()).toBe(1);
      // A run whose retention works again resolves it.
      proxy.fault = undefined;
      expect((await runCli(['backup'], env)).code).toBe(0);
      expect(await failures()).toBe(0);
    } finally {
      await proxy.close();
      await s3.stop();
    }
  });

  it("two jobs of one cluster with different strategies each keep their own group, and the old group of the cluster is deleted", async () => {
    // Before: one group per cluster, so an hourly filter job's success replaced the nightly snapshot job's failure
    // and nothing showed that snapshots failed.
    const old = await fetch(`${gw.url}/metrics/job/reshifter/cluster/two-jobs`, { method: 'PUT', body: '# TYPE reshifter_backup_last_success_timestamp_seconds gauge\nreshifter_backup_last_success_timestamp_seconds 1\n' });
    expect(old.ok, await old.text()).toBe(true);
    const env = { RS_BACKUP_DIR: join(work, 'two-jobs'), RS_CLUSTER_NAME: 'two-jobs', RS_PUSHGATEWAY_URL: gw.url };
    const snapshot = await runCli(['backup'], { ...env, RS_BACKUP_STRATEGY: 'snapshot', RS_ETCD_ENDPOINTS: `http://127.0.0.1:${await freePort()}`, RS_ETCD_TIMEOUT: '2s' });
    expect(snapshot.code).toBe(1);
    const secrets = await runCli(['backup'], { ...env, RS_BACKUP_STRATEGY: 'filter:namespaces', RS_ETCD_ENDPOINTS: etcd.endpoint });
    expect(secrets.code, secrets.stderr).toBe(0);
    const inGroup = (setting: string) => ({ backup_strategy: setting });
    expect(await pushed(gw, 'reshifter_backup_last_failure_timestamp_seconds', 'two-jobs', inGroup('snapshot'))).toBeGreaterThan(Date.now() / 1000 - 60);
    expect(await pushed(gw, 'reshifter_backup_last_success_timestamp_seconds', 'two-jobs', inGroup('snapshot'))).toBeUndefined();
    expect(await pushed(gw, 'reshifter_backup_last_success_timestamp_seconds', 'two-jobs', inGroup('filter:namespaces'))).toBeGreaterThan(Date.now() / 1000 - 60);
    expect(await pushed(gw, 'reshifter_backup_last_failure_timestamp_seconds', 'two-jobs', inGroup('filter:namespaces'))).toBeUndefined();
    expect(await pushed(gw, 'reshifter_backup_total', 'two-jobs', { ...inGroup('filter:namespaces'), strategy: 'filter:namespaces', outcome: 'success' })).toBe(1);
    // Unset, the setting is `auto` (the strategy taken, snapshot here, is on the series as before).
    const auto = await runCli(['backup'], { ...env, RS_ETCD_ENDPOINTS: etcd.endpoint });
    expect(auto.code, auto.stderr).toBe(0);
    expect(await pushed(gw, 'reshifter_backup_total', 'two-jobs', { ...inGroup('auto'), strategy: 'snapshot', outcome: 'success' })).toBe(1);
    // The group of earlier releases, which nothing updates any more and whose success would grow old, is gone.
    const lines = (await gw.samples('reshifter_backup_last_success_timestamp_seconds')).filter((l) => l.includes('cluster="two-jobs"'));
    expect(lines).toHaveLength(2);
    expect(lines.every((l) => l.includes('backup_strategy='))).toBe(true);
  });

  it('counts a restore (not a dry run), next to the backup metrics an earlier backup pushed', async () => {
    const env = {
      RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: join(work, 'restore-push'), RS_BACKUP_STRATEGY: 'raw',
      RS_CLUSTER_NAME: 'restored', RS_PUSHGATEWAY_URL: gw.url,
    };
    const made = await runCli(['backup', '--json'], env);
    expect(made.code, made.stderr).toBe(0);
    const { id } = JSON.parse(made.stdout) as { id: string };
    const pushTime = () => pushed(gw, 'push_time_seconds', 'restored');
    const afterBackup = await pushTime();
    expect(afterBackup).toBeGreaterThan(0);

    const dry = await runCli(['restore', id, '--dry-run'], env);
    expect(dry.code, dry.stderr).toBe(0);
    expect(await pushTime()).toBe(afterBackup);
    expect(await pushed(gw, 'reshifter_restore_total', 'restored', { outcome: 'success' })).toBeUndefined();

    const done = await runCli(['restore', id], env);
    expect(done.code, done.stderr).toBe(0);
    expect(await pushed(gw, 'reshifter_restore_total', 'restored', { outcome: 'success' })).toBe(1);
    expect(await pushed(gw, 'reshifter_backup_total', 'restored', { strategy: 'raw', outcome: 'success' })).toBe(1);

    const missing = await runCli(['restore', 'no-such-backup'], env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('"no-such-backup" is not a backup id');
    expect(await pushed(gw, 'reshifter_restore_total', 'restored', { outcome: 'failure' })).toBeUndefined();
  });
});

describe('run serves /healthz and /metrics', () => {
  it('before its first slot: healthy with nothing due, and the last success read from the store', async () => {
    const store = join(work, 'seeded');
    const first = await runCli(['backup', '--json'], { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: store });
    expect(first.code).toBe(0);
    const made = JSON.parse(first.stdout) as { createdAt: string };
    const port = await freePort();
    let child: import('node:child_process').ChildProcess | undefined;
    let started = false;
    const run = runCli(['run'], { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: store, RS_SCHEDULE: '0 0 1 1 *', RS_HTTP_PORT: String(port) }, {
      timeoutMs: 20_000,
      onStart: (c) => {
        child = c;
        c.stderr!.on('data', (d: Buffer) => (started ||= d.toString().includes('"msg":"scheduler started"')));
      },
    });
    try {
      await whileRunning(run, () => started, 'the scheduler started');
      const health = await get(port, '/healthz');
      expect(health.status).toBe(200);
      expect(JSON.parse(health.body)).toMatchObject({ status: 'ok', reason: 'no backup is due yet', nextRunAt: expect.stringMatching(/^\d{4}-(01-01|12-31)T/) });
      const metrics = await get(port, '/metrics');
      expect(metrics.body).toContain(`reshifter_backup_last_success_timestamp_seconds ${Date.parse(made.createdAt) / 1000}`);
      child!.kill('SIGTERM');
      expect((await run).code).toBe(0);
    } finally {
      child?.kill('SIGKILL');
    }
  });

  it('started while its S3 store is down: the last success is read once the store answers again, not left at 0', async () => {
    // Before: listed once at start; the metric stayed 0 until a backup succeeded (hours later), so the alert on its
    // age counted from this start instead of from the last backup.
    const s3 = await startS3('seed-later');
    const env = { RS_ETCD_ENDPOINTS: etcd.endpoint, ...s3.env, RS_S3_RETRY_WINDOW: '1s', RS_S3_REQUEST_TIMEOUT: '2s' };
    const made = JSON.parse((await runCli(['backup', '--json'], env)).stdout) as { createdAt: string };
    await s3.kill();
    const port = await freePort();
    const run = startRun({ ...env, RS_SCHEDULE: '0 0 1 1 *', RS_HTTP_PORT: String(port) });
    try {
      await run.until(/"msg":"cannot list existing backups"/);
      await run.until(/"msg":"scheduler started"/);
      expect((await get(port, '/metrics')).body).toMatch(/^reshifter_backup_last_success_timestamp_seconds 0$/m);
      await s3.restart();
      await run.until(/"msg":"listed the existing backups: the last-success metric is set"/);
      expect((await get(port, '/metrics')).body).toContain(`reshifter_backup_last_success_timestamp_seconds ${Date.parse(made.createdAt) / 1000}`);
      run.child().kill('SIGTERM');
      expect((await run.done).code, run.log()).toBe(0);
    } finally {
      killStarted();
      await s3.stop();
    }
  });

  it('turns 503 and counts the failure when retention fails after a stored backup, and healthy again once it works', async () => {
    // An S3 store whose server refuses to delete the old backup's artifact (403, as a bucket policy that denies
    // s3:DeleteObject would) until the first retention has failed on it: the store works again from then on. (A folder
    // in the artifact's place in a local store no longer does: a backup whose artifact is missing is kept, not deleted.)
    const s3 = await startS3('retention-fails');
    const proxy = await startS3Proxy(s3.endpoint);
    const env = { RS_ETCD_ENDPOINTS: etcd.endpoint, ...s3.env, RS_S3_ENDPOINT: proxy.endpoint, RS_S3_RETRY_WINDOW: '2s' };
    const old = JSON.parse((await runCli(['backup', '--json'], env)).stdout) as { artifact: string };
    let refused = false;
    let retentionFailed = false;
    proxy.fault = (r) => (r.op === 'DeleteObject' && r.url.includes(old.artifact) && !retentionFailed ? ((refused = true), { status: 403, code: 'AccessDenied' }) : undefined);
    // A newer backup that can be deleted: retention, newest first, deletes it before it fails on the old one.
    expect((await runCli(['backup'], env)).code).toBe(0);
    const port = await freePort();
    let completed = 0;
    let child: import('node:child_process').ChildProcess | undefined;
    const run = runCli(['run'], { ...env, RS_RETENTION_KEEP_LAST: '1', RS_SCHEDULE: '*/4 * * * * *', RS_HTTP_PORT: String(port) }, {
      timeoutMs: 40_000,
      onStart: (c) => {
        child = c;
        c.stderr!.on('data', (d: Buffer) => {
          retentionFailed ||= d.toString().includes('"msg":"retention failed"');
          completed += (d.toString().match(/"msg":"backup completed"/g) ?? []).length;
        });
      },
    });
    try {
      await whileRunning(run, () => retentionFailed, 'the first retention failing');
      const sick = await get(port, '/healthz');
      expect(sick.status).toBe(503);
      expect(JSON.parse(sick.body).reason).toMatch(/^the retention after the last backup failed: .*deleting/);
      const metrics = (await get(port, '/metrics')).body;
      expect(metrics).toContain('reshifter_retention_failures_total 1');
      // What it deleted before it failed is counted.
      expect(metrics).toContain('reshifter_retention_deleted_total 1');
      // The next run's retention works: healthy again.
      // Healthy once the next backup has told the health state, after its 'backup completed' line and a look at the
      // store (the etcd cluster check): waited for, not a fixed 500 ms after the line, which a loaded machine overran.
      await whileRunning(run, () => completed >= 2, 'the next backup completing');
      await whileRunning(run, async () => (await get(port, '/healthz')).status === 200, '/healthz turning 200 again after the next backup');
      expect(refused).toBe(true);
      child!.kill('SIGTERM');
      await run;
    } finally {
      child?.kill('SIGKILL');
      await proxy.close();
      await s3.stop();
    }
  });

  it('is healthy after scheduled backups, 503 with the reason once etcd is gone, and closes on SIGTERM', async () => {
    const port = await freePort();
    const own = await startEtcd();
    await own.ctl(['put', '/registry/namespaces/default', 'x']);
    const env = {
      // A backup against the stopped etcd fails after 1 s, half-way between two slots: the SIGTERM below lands then.
      RS_ETCD_ENDPOINTS: own.endpoint, RS_ETCD_TIMEOUT: '1s', RS_BACKUP_DIR: join(work, 'run'),
      RS_SCHEDULE: '*/2 * * * * *', RS_HTTP_PORT: String(port),
    };
    let completed = 0;
    let failed = 0;
    const seen: Array<{ status: number; body: string }> = [];
    let child: import('node:child_process').ChildProcess | undefined;
    const run = runCli(['run'], env, {
      timeoutMs: 45_000,
      onStart: (c) => {
        child = c;
        c.stderr!.on('data', (d: Buffer) => {
          completed += (d.toString().match(/"msg":"backup completed"/g) ?? []).length;
          failed += (d.toString().match(/"msg":"backup failed"/g) ?? []).length;
        });
      },
    });
    try {
      const until = async (cond: () => boolean) => {
        const deadline = Date.now() + 20_000;
        while (!cond()) {
          if (Date.now() > deadline) throw new Error('timed out');
          await new Promise((r) => setTimeout(r, 100));
        }
      };
      await until(() => completed >= 2);
      // Counted once the backup has looked at the store after its 'backup completed' line (the etcd cluster check):
      // the line alone raced the counter.
      const twice = /reshifter_backup_total\{strategy="snapshot",outcome="success"\} [2-9]/;
      await whileRunning(run, async () => twice.test((await get(port, '/metrics')).body), 'two successful backups counted');
      seen.push(await get(port, '/healthz'));
      const metrics = await get(port, '/metrics');
      expect(metrics.status).toBe(200);
      expect(metrics.body).toMatch(twice);
      expect(metrics.body).toContain('process_resident_memory_bytes');
      expect(seen[0]!.status).toBe(200);
      expect(JSON.parse(seen[0]!.body)).toMatchObject({ healthy: true, status: 'ok' });

      await own.kill();
      await until(() => failed >= 1);
      const sick = await get(port, '/healthz');
      expect(sick.status).toBe(503);
      expect(JSON.parse(sick.body).reason).toMatch(/^the last backup failed: /);
      expect((await get(port, '/nope')).status).toBe(404);
      // Stop between two slots, once no backup is running.
      child!.kill('SIGTERM');
      const res = await run;
      expect(res.stderr).toContain('"msg":"http server stopped"');
      expect(res.stderr).toContain('"msg":"stopped"');
      await expect(get(port, '/healthz')).rejects.toThrow(/ECONNREFUSED/);
    } finally {
      child?.kill('SIGKILL');
      await own.stop();
    }
  });
});
