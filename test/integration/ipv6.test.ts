import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { startS3, type TestS3 } from '../helpers/s3.js';

const execFileAsync = promisify(execFile);

/**
 * IPv6: an etcd and an S3 server that listen on [::1] only (IPv6-only clusters, dual-stack etcd hosts). Endpoints are
 * written as operators write them (`http://[::1]:2379`, etcdctl's bare `[::1]:2379`): backups of every kind to S3
 * and back, a restore into another IPv6 etcd, and the v2 API's HTTP client.
 */
describe('IPv6 endpoints', () => {
  let source: TestEtcd;
  let target: TestEtcd;
  let s3: TestS3;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rs-ipv6-'));
    [source, target, s3] = await Promise.all([startEtcd({ host: '::1', enableV2: true }), startEtcd({ host: '::1' }), startS3('backups', { host: '::1' })]);
    expect(source.endpoint).toMatch(/^http:\/\/\[::1\]:\d+$/);
    for (const [key, value] of [
      ['/registry/namespaces/shop', '{"kind":"Namespace"}'],
      ['/registry/pods/shop/web-0', '{"kind":"Pod"}'],
      ['/registry/secrets/shop/db', 'c2VjcmV0'],
    ]) {
      await source.ctl(['put', key!, value!]);
    }
    await execFileAsync('etcdctl', ['--endpoints', source.endpoint, 'set', '/registry/minions/node-1', '{"kind":"Node"}'], { env: { PATH: process.env.PATH, ETCDCTL_API: '2' } });
  });
  afterAll(async () => {
    await Promise.all([source?.stop(), target?.stop(), s3?.stop()]);
    await rm(dir, { recursive: true, force: true });
  });

  const env = (extra: Record<string, string> = {}) => ({ RS_ETCD_ENDPOINTS: source.endpoint, RS_ETCD_TIMEOUT: '10s', ...s3.env, ...extra });

  it('explores with an etcdctl-style bare [::1]:port endpoint', async () => {
    const res = await runCli(['explore', '--json'], { ETCDCTL_ENDPOINTS: source.endpoint.replace(/^http:\/\//, ''), RS_ETCD_TIMEOUT: '10s' });
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ endpoints: [source.endpoint], tls: false });
  });

  it('backs up a snapshot and a key dump to S3 over IPv6, and restores the dump into another IPv6 etcd', async () => {
    for (const strategy of ['snapshot', 'raw']) {
      const res = await runCli(['backup', '--json', '--strategy', strategy], env());
      expect(res.code, res.stderr).toBe(0);
      const { id } = JSON.parse(res.stdout) as { id: string };
      const verified = await runCli(['verify', id], env());
      expect(verified.code, verified.stderr).toBe(0);
    }
    const restore = await runCli(['restore', 'latest'], env({ RS_ETCD_ENDPOINTS: target.endpoint }));
    expect(restore.code, restore.stderr).toBe(0);
    const keys = async (e: TestEtcd) => (await e.ctl(['get', '/registry', '--prefix'])).split('\n');
    expect(await keys(target)).toEqual(await keys(source));
    expect(await keys(target)).toContain('/registry/secrets/shop/db');
  });

  it("reads etcd's v2 keyspace over IPv6 (the v2 API's HTTP client)", async () => {
    const res = await runCli(['backup', '--json', '--strategy', 'raw'], { RS_ETCD_ENDPOINTS: source.endpoint, RS_ETCD_API_VERSION: 'v2', RS_BACKUP_DIR: join(dir, 'v2') });
    expect(res.code, res.stderr).toBe(0);
    const { id } = JSON.parse(res.stdout) as { id: string };
    const stats = await runCli(['stats', id, '--keys'], { RS_BACKUP_DIR: join(dir, 'v2') });
    expect(stats.code, stats.stderr).toBe(0);
    expect(stats.stdout).toMatch(/API v2/);
    expect(stats.stdout).toMatch(/^\/registry\/minions\/node-1\t/m);
  });
});
