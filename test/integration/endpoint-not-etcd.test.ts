import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { probePlainHttp } from '../../src/etcd/tls-probe.js';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { freePort } from '../helpers/ports.js';

/**
 * An endpoint that answers plain HTTP/1.1 but is not etcd's client port: kubeadm's etcd serves its metrics on
 * http://127.0.0.1:2381 (--listen-metrics-urls) beside the client port 2379, one digit away. grpc-js met it with a
 * "Protocol error", retried until RS_ETCD_TIMEOUT (23 s of 20 attempts) and reported that etcd was "unreachable or
 * went away" (found by an operator pass). It is said at the first attempt, naming the endpoint and what answered.
 */
let etcd: TestEtcd;
let metrics: string;
let work: string;

beforeAll(async () => {
  const port = await freePort('127.0.0.1');
  metrics = `http://127.0.0.1:${port}`;
  etcd = await startEtcd({ args: ['--listen-metrics-urls', metrics] });
  work = await mkdtemp(join(tmpdir(), 'rs-not-etcd-'));
});

afterAll(async () => {
  await Promise.all([etcd?.stop(), work && rm(work, { recursive: true, force: true })]);
});

it("an endpoint that answers HTTP/1.1 but not etcd's gRPC (etcd's metrics port) is named at once, and nothing is stored", async () => {
  const env = { RS_ETCD_ENDPOINTS: metrics, RS_BACKUP_DIR: join(work, 'store') };
  for (const command of ['explore', 'backup']) {
    const started = Date.now();
    const res = await runCli([command], env);
    expect(res.code, res.stderr).toBe(1);
    expect(res.stderr).toContain(`failed at ${metrics}: the endpoint answers plain HTTP/1.1 (HTTP/1.1 404 Not Found), not etcd's gRPC API: is it etcd's client port (2379 by default)? etcd's metrics port (kubeadm's 2381) and other HTTP services answer so`);
    expect(res.stderr).not.toMatch(/unreachable|\n\s+at /);
    expect(Date.now() - started).toBeLessThan(10_000);
  }
  // The backup stored nothing.
  expect(await readdir(join(work, 'store', 'default')).catch(() => [])).toEqual([]);
  // The client port of the same etcd works, and its HTTP/1.1 answer (/version) is never taken for another service.
  const ok = await runCli(['explore'], { RS_ETCD_ENDPOINTS: etcd.endpoint });
  expect(ok.code, ok.stderr).toBe(0);
  expect(await probePlainHttp(etcd.endpoint)).toBeUndefined();
  expect(await probePlainHttp(metrics)).toBe('HTTP/1.1 404 Not Found');
  // Beside an endpoint that is etcd, the wrong one is passed over as a member that is down would be.
  const both = await runCli(['backup'], { ...env, RS_ETCD_ENDPOINTS: `${metrics},${etcd.endpoint}` });
  expect(both.code, both.stderr).toBe(0);
});
