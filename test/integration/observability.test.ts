import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { freePort } from '../helpers/ports.js';

interface Pushed {
  method: string;
  url: string;
  body: string;
}

/** A stand-in Pushgateway on loopback that records what it is sent. */
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

describe('one-off backup and the Pushgateway', () => {
  it('pushes the metrics of a successful backup, with the backup id on every log line of the run', async () => {
    const gw = await startGateway();
    try {
      const res = await runCli(['backup'], {
        RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: join(work, 'push'), RS_CLUSTER_NAME: 'prod-eu',
        RS_PUSHGATEWAY_URL: gw.url, RS_RETENTION_KEEP_LAST: '1',
      });
      expect(res.code).toBe(0);
      expect(gw.pushed).toHaveLength(1);
      const [push] = gw.pushed;
      expect(push!.method).toBe('POST');
      expect(push!.url).toBe('/metrics/job/reshifter/cluster/prod-eu');
      expect(push!.body).toContain('reshifter_backup_total{strategy="snapshot",outcome="success"} 1');
      expect(push!.body).toMatch(/reshifter_backup_size_bytes\{strategy="snapshot"\} [1-9]\d*/);
      expect(push!.body).toMatch(/reshifter_backup_last_success_timestamp_seconds \d{10}/);
      expect(push!.body).not.toContain('reshifter_backup_last_failure_timestamp_seconds');
      expect(push!.body).not.toContain('process_resident_memory_bytes');
      const id = res.stdout.split('\t')[0];
      const logged = lines(res.stderr);
      expect(logged.map((l) => l.msg)).toEqual(expect.arrayContaining(['backup started', 'backup completed', 'retention applied', 'metrics pushed']));
      for (const l of logged) expect(l.backupId, JSON.stringify(l)).toBe(id);
    } finally {
      gw.server.close();
    }
  });

  it('pushes a failure without erasing the last success, and a gateway error does not change the exit code', async () => {
    const gw = await startGateway();
    const down = await startGateway(500);
    try {
      const bad = await runCli(['backup'], {
        RS_ETCD_ENDPOINTS: `http://127.0.0.1:${await freePort()}`, RS_ETCD_TIMEOUT: '2s', RS_BACKUP_DIR: join(work, 'fail'), RS_PUSHGATEWAY_URL: gw.url,
      });
      expect(bad.code).toBe(1);
      expect(gw.pushed).toHaveLength(1);
      expect(gw.pushed[0]!.body).toMatch(/reshifter_backup_total\{strategy="(snapshot|auto)",outcome="failure"\} 1/);
      expect(gw.pushed[0]!.body).toMatch(/reshifter_backup_last_failure_timestamp_seconds \d{10}/);
      expect(gw.pushed[0]!.body).not.toContain('reshifter_backup_last_success_timestamp_seconds');
      expect(lines(bad.stderr).find((l) => l.msg === 'backup failed')?.backupId).toMatch(/^\d{8}T/);

      const ok = await runCli(['backup'], { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: join(work, 'fail'), RS_PUSHGATEWAY_URL: down.url });
      expect(ok.code).toBe(0);
      expect(down.pushed).toHaveLength(1);
      expect(lines(ok.stderr).find((l) => l.msg === 'metrics push failed')?.err).toMatch(/500/);
    } finally {
      gw.server.close();
      down.server.close();
    }
  });
});

describe('one-off restore and the Pushgateway', () => {
  it('counts a restore (not a dry run) and pushes only what the restore recorded', async () => {
    const gw = await startGateway();
    const env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: join(work, 'restore-push'), RS_BACKUP_STRATEGY: 'raw', RS_PUSHGATEWAY_URL: gw.url };
    try {
      const made = await runCli(['backup', '--json'], env);
      expect(made.code, made.stderr).toBe(0);
      const { id } = JSON.parse(made.stdout) as { id: string };
      gw.pushed.length = 0;

      const dry = await runCli(['restore', id, '--dry-run'], env);
      expect(dry.code, dry.stderr).toBe(0);
      expect(gw.pushed).toHaveLength(0);

      const done = await runCli(['restore', id], env);
      expect(done.code, done.stderr).toBe(0);
      expect(gw.pushed).toHaveLength(1);
      expect(gw.pushed[0]!.body).toContain('reshifter_restore_total{outcome="success"} 1');
      // A restore's push must not replace the backup metrics an earlier backup pushed.
      expect(gw.pushed[0]!.body).not.toContain('reshifter_backup_total');
      expect(gw.pushed[0]!.body).not.toContain('reshifter_backup_duration_seconds');

      const missing = await runCli(['restore', 'no-such-backup'], env);
      expect(missing.code).not.toBe(0);
      expect(gw.pushed).toHaveLength(1);
    } finally {
      gw.server.close();
    }
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
      for (let i = 0; i < 100 && !started; i++) await new Promise((r) => setTimeout(r, 100));
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

  it('is healthy after scheduled backups, 503 with the reason once etcd is gone, and closes on SIGTERM', async () => {
    const port = await freePort();
    const own = await startEtcd();
    await own.ctl(['put', '/registry/namespaces/default', 'x']);
    const env = {
      RS_ETCD_ENDPOINTS: own.endpoint, RS_ETCD_TIMEOUT: '2s', RS_BACKUP_DIR: join(work, 'run'),
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
      seen.push(await get(port, '/healthz'));
      const metrics = await get(port, '/metrics');
      expect(metrics.status).toBe(200);
      expect(metrics.body).toMatch(/reshifter_backup_total\{strategy="snapshot",outcome="success"\} [2-9]/);
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
