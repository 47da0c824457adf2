import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { runInProcess } from '../helpers/in-process.js';

/** A Kubernetes 1.5-era cluster: JSON objects in etcd's v2 keyspace (etcd 3.4 with --enable-v2). */
interface V2Node {
  key: string;
  dir?: boolean;
  value?: string;
  ttl?: number;
  nodes?: V2Node[];
}

const path = (key: string) => key.split('/').map(encodeURIComponent).join('/');

async function v2Put(etcd: TestEtcd, key: string, value: string, ttl?: number): Promise<void> {
  const body = new URLSearchParams({ value, ...(ttl !== undefined && { ttl: String(ttl) }) });
  const res = await fetch(`${etcd.endpoint}/v2/keys${path(key)}`, { method: 'PUT', body });
  expect(res.status === 200 || res.status === 201).toBe(true);
}

/** Every key under /registry, with value and TTL, as etcd's v2 API returns them (recursive GET). */
async function v2Keys(etcd: TestEtcd): Promise<Map<string, { value: string; ttl?: number }>> {
  const res = await fetch(`${etcd.endpoint}/v2/keys/registry?recursive=true`);
  const out = new Map<string, { value: string; ttl?: number }>();
  if (res.status === 404) return out;
  const walk = (n: V2Node) => {
    if (n.dir) for (const c of n.nodes ?? []) walk(c);
    else out.set(n.key, { value: n.value ?? '', ...(n.ttl !== undefined && { ttl: n.ttl }) });
  };
  walk(((await res.json()) as { node: V2Node }).node);
  return out;
}

const obj = (kind: string, name: string, namespace?: string, extra = '') =>
  JSON.stringify({ kind, apiVersion: 'v1', metadata: { name, ...(namespace && { namespace }), uid: `uid-${name}`, creationTimestamp: '2017-01-01T00:00:00Z' }, extra });

const DATA: Array<[string, string, number?]> = [
  ['/registry/namespaces/default', obj('Namespace', 'default')],
  ['/registry/namespaces/kube-system', obj('Namespace', 'kube-system')],
  ['/registry/pods/default/web-1', obj('Pod', 'web-1', 'default')],
  ['/registry/pods/kube-system/dns', obj('Pod', 'dns', 'kube-system')],
  ['/registry/services/specs/default/web', obj('Service', 'web', 'default')],
  ['/registry/deployments/default/web', obj('Deployment', 'web', 'default')],
  ['/registry/configmaps/default/ünïcødé-名前', obj('ConfigMap', 'ünïcødé-名前', 'default')],
  ['/registry/configmaps/default/with space', obj('ConfigMap', 'with space', 'default')],
  ['/registry/configmaps/default/colon:name', obj('ConfigMap', 'colon:name', 'default')],
  ['/registry/configmaps/default/percent%41name', obj('ConfigMap', 'percent%41name', 'default')],
  ['/registry/configmaps/default/big', obj('ConfigMap', 'big', 'default', 'x'.repeat(300_000))],
  ['/registry/configmaps/default/empty', ''],
  ['/registry/events/default/web-1.abc', obj('Event', 'web-1.abc', 'default'), 3600],
  ['/registry/events/default/web-1.def', obj('Event', 'web-1.def', 'default'), 3600],
];

let source: TestEtcd;
let work: string;
let manifest: Manifest;

beforeAll(async () => {
  source = await startEtcd({ enableV2: true });
  work = await mkdtemp(join(tmpdir(), 'rs-v2-'));
  for (const [key, value, ttl] of DATA) await v2Put(source, key, value, ttl);
});

afterAll(async () => {
  await Promise.all([source?.stop(), work && rm(work, { recursive: true, force: true })]);
});

const env = (etcd: TestEtcd, extra: Record<string, string> = {}) => ({ RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: work, ...extra });

describe('etcd v2 keyspace', () => {
  it('is detected and dumped with the raw strategy by default', async () => {
    const res = await runCli(['backup', '--json'], env(source));
    expect(res.stderr).toContain('backup completed');
    expect(res.code).toBe(0);
    manifest = JSON.parse(res.stdout) as Manifest;
    // Every known prefix is the dump's scope, the two that hold no keys too.
    expect(manifest).toMatchObject({ strategy: 'raw', contentType: 'tar', keys: DATA.length, prefixes: ['/kubernetes.io', '/openshift.io', '/registry'], etcd: { apiVersion: 'v2' } });
    expect(manifest.etcd!.revision).toBeGreaterThanOrEqual(DATA.length);
  });

  it('round-trips into a fresh v2 etcd: every key and value identical, TTLs kept', async () => {
    const target = await startEtcd({ enableV2: true });
    try {
      const res = await runCli(['restore', manifest.id], env(target));
      expect(res.code).toBe(0);
      expect(res.stdout).toMatch(new RegExp(`restored ${DATA.length} keys into .* \\(v2\\)`));
      const got = await v2Keys(target);
      const want = await v2Keys(source);
      expect(new Map([...got].map(([k, v]) => [k, v.value]))).toEqual(new Map([...want].map(([k, v]) => [k, v.value])));
      expect(got.size).toBe(DATA.length);
      for (const [key, , ttl] of DATA) {
        if (ttl === undefined) expect(got.get(key)!.ttl, key).toBeUndefined();
        else expect(got.get(key)!.ttl).toBeGreaterThan(3500);
      }
      // A second run changes nothing.
      const again = await runInProcess(['restore', manifest.id, '--json'], env(target));
      expect(JSON.parse(again.stdout)).toMatchObject({ written: 0, totals: { unchanged: DATA.length } });
    } finally {
      await target.stop();
    }
  });

  it('refuses a snapshot asked for by name before it is taken: it holds the v3 keyspace only, none of the v2 keys (nothing stored)', async () => {
    // Before: exit 0 and a snapshot of the empty v3 keyspace, stored as the series' newest backup; then exit 2 only
    // once the snapshot was read ('backup started' first), where exit 2 is found before any work.
    const res = await runCli(['backup', '--json'], env(source, { RS_BACKUP_STRATEGY: 'snapshot', RS_CLUSTER_NAME: 'v2-snapshot' }));
    expect(res.code).toBe(2);
    expect(res.stdout).toBe('');
    expect(res.stderr).toMatch(/RS_BACKUP_STRATEGY=snapshot reads the v3 keyspace only, but the Kubernetes keys of \S+ are in its v2 keyspace: a snapshot would hold none of them, so none was taken; use raw/);
    expect(res.stderr).not.toMatch(/backup started/);
    const list = await runInProcess(['list', '--json'], env(source, { RS_CLUSTER_NAME: 'v2-snapshot' }));
    expect(list.stdout).not.toContain('snapshot');
  });

  it('counts the dump in stats', async () => {
    const res = await runInProcess(['stats', manifest.id, '--json'], env(source));
    expect(res.code).toBe(0);
    const stats = JSON.parse(res.stdout) as { keys: number; byResource: Record<string, { keys: number }>; byEncoding: Record<string, { keys: number }> };
    expect(stats.keys).toBe(DATA.length);
    expect(stats.byResource.configmaps!.keys).toBe(6);
    expect(stats.byResource.services!.keys).toBe(1);
    expect(stats.byEncoding.json!.keys).toBe(DATA.length - 1);
    expect(stats.byEncoding.empty!.keys).toBe(1);
  });

  it('with keys in both keyspaces, reads v3 and warns about the v2 keys; with v3 auth refusing, fails rather than read v2', async () => {
    const both = await startEtcd({ enableV2: true });
    try {
      await v2Put(both, '/registry/pods/default/old', obj('Pod', 'old', 'default'));
      await both.ctl(['put', '/registry/pods/default/new', obj('Pod', 'new', 'default')]);
      const mixed = await runCli(['backup', '--json'], env(both, { RS_BACKUP_STRATEGY: 'raw', RS_CLUSTER_NAME: 'mixed' }));
      expect(mixed.code, mixed.stderr).toBe(0);
      expect(JSON.parse(mixed.stdout)).toMatchObject({ keys: 1, etcd: { apiVersion: 'v3' } });
      expect(mixed.stderr).toContain('both the v3 and the v2 keyspace hold Kubernetes keys: reading v3');
      await both.ctl(['user', 'add', 'root:right-pw']);
      await both.ctl(['auth', 'enable']);
      for (const creds of [{ RS_ETCD_USERNAME: 'root', RS_ETCD_PASSWORD: 'wrong-pw' }, {}] as Array<Record<string, string>>) {
        const res = await runInProcess(['backup', '--json'], env(both, { RS_BACKUP_STRATEGY: 'raw', RS_CLUSTER_NAME: 'authed', ...creds }));
        expect(res.code, res.stdout).toBe(1);
        expect(res.stdout).toBe('');
        expect(res.stderr).toMatch(/credentials|user name|authentication|permission/i);
      }
    } finally {
      await both.stop();
    }
  });

  it('says clearly when v2 is asked for but not served', async () => {
    const plain = await startEtcd();
    try {
      const res = await runInProcess(['backup'], env(plain, { RS_ETCD_API_VERSION: 'v2' }));
      expect(res.code).toBe(1);
      expect(res.stderr).toMatch(/RS_ETCD_API_VERSION is v2, but .* does not serve etcd's v2 API \(etcd 3.4 needs --enable-v2/);
    } finally {
      await plain.stop();
    }
  });
});
