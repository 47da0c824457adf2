import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import type { CliResult } from './cli.js';
import { startEtcd, type TestEtcd } from './etcd.js';
import { loadBigValues } from './faults.js';
import { startS3Proxy, type S3Proxy } from './s3-proxy.js';
import { startS3, type TestS3 } from './s3.js';

/** The servers of an S3 outage test file, set by its beforeAll. */
export interface OutageServers {
  etcd: TestEtcd;
  s3: TestS3;
  proxy: S3Proxy;
}

/**
 * The servers the S3 outage files share, one set per file: an etcd of `values` incompressible values of 512 KiB
 * (120: a ~60 MiB uncompressed snapshot, 8 parts) and s3rver behind a recording proxy, which shows when parts flow.
 * After each test the server runs again, whatever the test did to it. Returns the servers, the environment of a run
 * against them (RS_S3_REQUEST_TIMEOUT of 2 s) and the proxy's requests of one operation since the n-th.
 */
export function useS3Outage(values = 120) {
  const servers = {} as OutageServers;
  beforeAll(async () => {
    [servers.etcd, servers.s3] = await Promise.all([startEtcd(), startS3()]);
    await loadBigValues(servers.etcd.endpoint, values);
    servers.proxy = await startS3Proxy(servers.s3.endpoint);
  });
  afterEach(async () => {
    servers.s3.resume();
    if (servers.s3.process.exitCode !== null || servers.s3.process.signalCode !== null) await servers.s3.restart();
  });
  afterAll(async () => {
    await servers.proxy?.close();
    await Promise.all([servers.etcd?.stop(), servers.s3?.stop()]);
  });
  const env = (extra: Record<string, string> = {}) => ({
    ...servers.s3.env, RS_S3_ENDPOINT: servers.proxy.endpoint, RS_ETCD_ENDPOINTS: servers.etcd.endpoint, RS_COMPRESSION: 'none', RS_S3_REQUEST_TIMEOUT: '2s', ...extra,
  });
  const since = (n: number, op: string) => servers.proxy.requests.slice(n).filter((r) => r.op === op);
  return { servers, env, since };
}

/** Every stderr line is a JSON log line (the SDK prints nothing of its own), apart from the final message. */
export function expectOnlyJson(res: CliResult): void {
  const bad = res.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('reshifter: ') && !isJson(l));
  expect(bad).toEqual([]);
}

export function isJson(line: string): boolean {
  try {
    JSON.parse(line);
    return true;
  } catch {
    return false;
  }
}
