import type { ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { freePort } from '../helpers/ports.js';

/**
 * `run` as the built CLI serves it: RS_HTTP_ADDRESS binds one address (loopback by default); beyond loopback without
 * RS_API_TOKEN it warns at start and answers 403 on the reads that show what the cluster holds (stats, explore, diff,
 * a backup's details) unless RS_API_READ_OPEN=true, while lists, /healthz, /livez and /metrics stay open. On loopback
 * (or with RS_HTTP_ALLOWED_HOSTS) a request whose Host names another machine (DNS rebinding) is refused (421).
 */
let etcd: TestEtcd;
let work: string;
let backup: Manifest;
const TOKEN = 'exposure-test-token-0123456789';

/** An address of this machine that is not loopback, when it has one (containers on a network do). */
const external = Object.values(networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal)?.address;

beforeAll(async () => {
  etcd = await startEtcd();
  work = await mkdtemp(join(tmpdir(), 'rs-exposure-'));
  await etcd.ctl(['put', '/registry/configmaps/default/app', 'secret-ish']);
  const res = await runCli(['backup', '--json'], env());
  expect(res.code, res.stderr).toBe(0);
  backup = JSON.parse(res.stdout) as Manifest;
});
afterAll(async () => {
  await etcd?.stop();
  await rm(work, { recursive: true, force: true });
});

const env = (extra: Record<string, string> = {}) => ({ RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: work, RS_COMPRESSION: 'none', ...extra });

/** Starts `run` with `extra`, hands its port to `body` once it listens, then stops it; returns what it printed. */
async function serving(extra: Record<string, string>, body: (port: number) => Promise<void>): Promise<CliResult> {
  const port = await freePort();
  let failure: unknown;
  const res = await runCli(['run'], env({ RS_HTTP_PORT: String(port), ...extra }), {
    timeoutMs: 30_000,
    onStart: (child: ChildProcess) => {
      let started = false;
      child.stderr!.on('data', (d: Buffer) => {
        if (started || !d.toString().includes('"msg":"serving without a schedule')) return;
        started = true;
        body(port)
          .catch((err: unknown) => (failure = err))
          .finally(() => child.kill('SIGTERM'));
      });
    },
  });
  if (failure) throw failure;
  expect(res.stderr).toContain('"msg":"stopped"');
  return res;
}

const CONTENT = () => ['/api/v1/stats', `/api/v1/stats/${backup.id}`, '/api/v1/explore', `/api/v1/diff?from=${backup.id}&to=${backup.id}`, `/api/v1/backups/${backup.id}`];
const OPEN = ['/healthz', '/readyz', '/livez', '/metrics', '/api/v1/backups', '/api/v1/clusters', '/api/v1/jobs', '/api/v1/version', '/'];
const status = async (port: number, path: string, host = '127.0.0.1') => (await fetch(`http://${host}:${port}${path}`)).status;

/**
 * A GET sent to 127.0.0.1 with `Host: <host>`, as a browser sends it once a page's own name resolves to 127.0.0.1
 * (fetch sets Host from the URL).
 */
function asHost(port: number, path: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { Host: host }, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('RS_HTTP_ADDRESS and read access', () => {
  it('on every interface without a token: a warning at start, 403 on reads of the contents, the rest open', async () => {
    const res = await serving({ RS_HTTP_ADDRESS: '0.0.0.0' }, async (port) => {
      for (const path of CONTENT()) {
        const r = await fetch(`http://127.0.0.1:${port}${path}`);
        expect(r.status, path).toBe(403);
        expect(((await r.json()) as { error: string }).error, path).toContain('RS_API_READ_OPEN=true');
      }
      for (const path of OPEN) expect(await status(port, path), path).toBe(200);
      if (external) expect(await status(port, '/healthz', external)).toBe(200);
      // In a cluster, clients name the pod by its Service: every name answers (no RS_HTTP_ALLOWED_HOSTS).
      for (const path of ['/api/v1/backups', '/healthz']) expect((await asHost(port, path, `reshifter.backup.svc.cluster.local:${port}`)).status, path).toBe(200);
      expect((await asHost(port, '/api/v1/stats', 'reshifter.backup.svc')).status).toBe(403);
    });
    const warning = res.stderr.split('\n').find((l) => l.includes('reachable beyond loopback without RS_API_TOKEN'));
    expect(warning).toBeDefined();
    expect(JSON.parse(warning!)).toMatchObject({ level: 'warn', address: '0.0.0.0', contentReads: expect.stringContaining('refused (403)') });
  }, 40_000);

  it('RS_API_READ_OPEN=true opens the reads (and still warns); downloads and changes stay closed', async () => {
    const res = await serving({ RS_HTTP_ADDRESS: '0.0.0.0', RS_API_READ_OPEN: 'true' }, async (port) => {
      for (const path of CONTENT()) expect(await status(port, path), path).toBe(200);
      expect(await status(port, `/api/v1/backups/${backup.id}/artifact`)).toBe(403);
    });
    expect(res.stderr).toContain('reachable beyond loopback without RS_API_TOKEN');
  }, 40_000);

  it('with a token beyond loopback: no warning, every API read needs it', async () => {
    const res = await serving({ RS_HTTP_ADDRESS: '0.0.0.0', RS_API_TOKEN: TOKEN }, async (port) => {
      expect(await status(port, '/api/v1/stats')).toBe(401);
      const r = await fetch(`http://127.0.0.1:${port}/api/v1/backups/${backup.id}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
      expect(r.status).toBe(200);
      expect(await status(port, '/healthz')).toBe(200);
    });
    expect(res.stderr).not.toContain('reachable beyond loopback');
  }, 40_000);

  it('by default on loopback only: no warning, the reads open, nothing answers on another address', async () => {
    const res = await serving({}, async (port) => {
      for (const path of CONTENT()) expect(await status(port, path), path).toBe(200);
      if (external) await expect(fetch(`http://${external}:${port}/healthz`)).rejects.toThrow();
    });
    expect(res.stderr).not.toContain('reachable beyond loopback');
    expect(res.stderr).toMatch(/"address":"127\.0\.0\.1","port":\d+,"paths"/);
  }, 40_000);

  it('on loopback, a request sent to another name (DNS rebinding) is refused with 421 on every path; localhost and addresses answer', async () => {
    const res = await serving({}, async (port) => {
      for (const path of [...CONTENT(), '/api/v1/backups', '/healthz', '/metrics', '/']) {
        const r = await asHost(port, path, `rebind.attacker.example:${port}`);
        expect(r.status, path).toBe(421);
        expect(JSON.parse(r.body), path).toEqual({
          code: 'misdirected_request',
          error: `this server does not answer to the name in the request's Host header ("rebind.attacker.example:${port}"): it answers to localhost, IP addresses and the names in RS_HTTP_ALLOWED_HOSTS; add the name there to reach it by that name`,
        });
        expect(r.body, path).not.toContain('configmaps');
      }
      // A name that only starts like an allowed one, or an address with a name after it, is another name.
      for (const host of ['localhost.attacker.example', '127.0.0.1.nip.io:80', 'LOCALHOST.example']) expect((await asHost(port, '/api/v1/stats', host)).status, host).toBe(421);
      // Tunnels (ssh -L, kubectl port-forward) change the port: any port, or none, answers.
      for (const host of [`localhost:${port}`, 'localhost', 'LocalHost:9000', `127.0.0.1:${port}`, '127.0.0.2', `[::1]:${port}`, '[::1]']) {
        expect((await asHost(port, `/api/v1/backups/${backup.id}`, host)).status, host).toBe(200);
      }
    });
    expect(res.stderr).toContain('"msg":"request to an unknown host name refused"');
  }, 40_000);

  it('RS_HTTP_ALLOWED_HOSTS adds names, on loopback and beyond it, where it turns the check on', async () => {
    await serving({ RS_HTTP_ALLOWED_HOSTS: 'Backup-Host, reshifter.example.com' }, async (port) => {
      for (const host of [`backup-host:${port}`, 'reshifter.example.com', `localhost:${port}`]) expect((await asHost(port, '/api/v1/stats', host)).status, host).toBe(200);
      expect((await asHost(port, '/api/v1/stats', 'attacker.example')).status).toBe(421);
    });
    await serving({ RS_HTTP_ADDRESS: '0.0.0.0', RS_API_READ_OPEN: 'true', RS_HTTP_ALLOWED_HOSTS: 'reshifter.backup.svc' }, async (port) => {
      for (const host of [`reshifter.backup.svc:${port}`, `127.0.0.1:${port}`, ...(external ? [`${external}:${port}`] : [])]) {
        expect((await asHost(port, '/api/v1/stats', host)).status, host).toBe(200);
      }
      for (const path of ['/api/v1/stats', '/healthz']) expect((await asHost(port, path, `attacker.example:${port}`)).status, path).toBe(421);
    });
  }, 60_000);

  it('an address that is not one is a configuration error naming it', async () => {
    const res = await runCli(['run'], env({ RS_HTTP_ADDRESS: 'every-interface' }));
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('RS_HTTP_ADDRESS was invalid: "every-interface" is not an address to listen on');
  });

  it('an allowed host that is not a host name is a configuration error naming it', async () => {
    const res = await runCli(['run'], env({ RS_HTTP_ALLOWED_HOSTS: 'backup-host,https://reshifter.example.com:8443' }));
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('RS_HTTP_ALLOWED_HOSTS was invalid: "backup-host,https://reshifter.example.com:8443" has "https://reshifter.example.com:8443", which is not a host name');
  });
});
