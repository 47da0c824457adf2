import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { startApi, type TestApi } from '../helpers/api.js';
import { runInProcess } from '../helpers/in-process.js';

/**
 * An API restore whose filters come from the request: what it says of them names the request's fields
 * (`includeNamespaces`), not the variables of `reshifter restore` (`RS_INCLUDE_NAMESPACES`) that the caller never set.
 * A filter the server itself was configured with is still named by its variable.
 */
let etcd: TestEtcd;
let dir: string;
let dump: Manifest;
const TOKEN = 'filter-names-token-1234';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rs-api-filter-names-'));
  etcd = await startEtcd();
  await etcd.ctl(['put', '/registry/namespaces/team-1', '{"kind":"Namespace"}']);
  await etcd.ctl(['put', '/registry/configmaps/team-1/web', '{"kind":"ConfigMap"}']);
  const res = await runInProcess(['backup', '--json'], { RS_BACKUP_DIR: dir, RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_STRATEGY: 'raw' });
  expect(res.code, res.stderr).toBe(0);
  dump = JSON.parse(res.stdout) as Manifest;
}, 60_000);
afterAll(async () => {
  await etcd?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function restoreJob(api: TestApi, json: Record<string, unknown>) {
  const res = await api.call('/api/v1/restores', { method: 'POST', token: TOKEN, json: { backupId: dump.id, dryRun: true, ...json } });
  const job = (await res.json()) as { id: string };
  expect(res.status, JSON.stringify(job)).toBe(202);
  return api.waitJob(job.id, TOKEN);
}

it('a request filter that matches nothing fails naming the request field', async () => {
  const api = await startApi({ RS_BACKUP_DIR: dir, RS_ETCD_ENDPOINTS: etcd.endpoint, RS_API_TOKEN: TOKEN });
  try {
    const done = await restoreJob(api, { includeNamespaces: ['prod'] });
    expect(done.state).toBe('failed');
    expect(done.error).toContain('the restore selected no key: includeNamespaces=prod matches nothing');
    expect(done.error).not.toContain('RS_');
    // What lists the names it could have given: the API's stats, not a command the caller may not have.
    expect(done.error).toContain(`GET /api/v1/stats/${dump.id} lists them`);
    const partly = await restoreJob(api, { includeNamespaces: ['team-1', 'tema-2'] });
    expect(partly.state, partly.error).toBe('succeeded');
    expect((partly.result as { unmatchedFilters: unknown }).unmatchedFilters).toEqual([{ variable: 'includeNamespaces', names: ['tema-2'] }]);
  } finally {
    await api.stop();
  }
});

it('a filter of the server configuration is named by its variable beside the request field', async () => {
  const api = await startApi({ RS_BACKUP_DIR: dir, RS_ETCD_ENDPOINTS: etcd.endpoint, RS_API_TOKEN: TOKEN, RS_EXCLUDE_RESOURCES: 'secrets' });
  try {
    const done = await restoreJob(api, { includeNamespaces: ['prod'] });
    expect(done.state).toBe('failed');
    expect(done.error).toContain('the restore selected no key: includeNamespaces=prod and RS_EXCLUDE_RESOURCES=secrets matches nothing');
    // A request without filters of its own, against a configured one that matches nothing: named by its variable.
    const configured = await startApi({ RS_BACKUP_DIR: dir, RS_ETCD_ENDPOINTS: etcd.endpoint, RS_API_TOKEN: TOKEN, RS_INCLUDE_NAMESPACES: 'prod' });
    try {
      const only = await restoreJob(configured, {});
      expect(only.error).toContain(`the restore selected no key: RS_INCLUDE_NAMESPACES=prod matches nothing backup ${dump.id} holds`);
      expect(only.error).toContain(`GET /api/v1/stats/${dump.id} lists them`);
    } finally {
      await configured.stop();
    }
  } finally {
    await api.stop();
  }
});
