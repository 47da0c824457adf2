import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Etcd3 } from 'etcd3';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { keyspace } from '../helpers/keyspace.js';

/**
 * An OpenShift admin names resources as `etcdctl get --prefix /openshift.io --keys-only` shows them: OpenShift keeps
 * identities under `useridentities`, Kubernetes replication controllers under `controllers`. Filters take that name
 * as well as the API's plural, and a custom resource of the same plural in its own group stays selected by it.
 */
const OBJECTS: Record<string, object> = {
  '/openshift.io/useridentities/htpasswd:alice': { kind: 'Identity', apiVersion: 'user.openshift.io/v1', metadata: { name: 'htpasswd:alice' } },
  '/openshift.io/users/alice': { kind: 'User', apiVersion: 'user.openshift.io/v1', metadata: { name: 'alice' } },
  '/openshift.io/routes/ns1/r1': { kind: 'Route', apiVersion: 'route.openshift.io/v1', metadata: { name: 'r1', namespace: 'ns1' } },
  '/kubernetes.io/controllers/ns1/rc1': { kind: 'ReplicationController', apiVersion: 'v1', metadata: { name: 'rc1', namespace: 'ns1' } },
  '/kubernetes.io/example.com/controllers/ns1/c1': { kind: 'Controller', apiVersion: 'example.com/v1', metadata: { name: 'c1', namespace: 'ns1' } },
};

let source: TestEtcd;
let dir: string;

beforeAll(async () => {
  [source, dir] = await Promise.all([startEtcd(), mkdtemp(join(tmpdir(), 'rs-ocp-names-'))]);
  const client = new Etcd3({ hosts: source.endpoint });
  for (const [key, value] of Object.entries(OBJECTS)) await client.put(key).value(JSON.stringify(value));
  client.close();
});

afterAll(async () => {
  await Promise.all([source?.stop(), dir && rm(dir, { recursive: true, force: true })]);
});

const env = (etcd: TestEtcd, extra: Record<string, string> = {}) => ({ RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: dir, ...extra });

const textKeys = async (etcd: TestEtcd) => [...(await keyspace(etcd)).keys()].map((k) => Buffer.from(k, 'base64').toString()).sort();

describe('resource filters with the names etcd stores OpenShift and Kubernetes resources under', () => {
  it('filter:useridentities dumps the identities, and RS_INCLUDE_RESOURCES=useridentities restores them', async () => {
    const made = await runCli(['backup', '--strategy', 'filter:useridentities'], env(source));
    expect(made.stderr).not.toMatch(/selected no key/);
    expect(made.code).toBe(0);
    const id = made.stdout.split('\t')[0]!;
    const whole = await runCli(['backup', '--strategy', 'raw'], env(source));
    expect(whole.code).toBe(0);
    const target = await startEtcd();
    try {
      const res = await runCli(['restore', whole.stdout.split('\t')[0]!], env(target, { RS_INCLUDE_RESOURCES: 'useridentities' }));
      expect(res.stderr).not.toMatch(/selected no key|matches no key/);
      expect(res.code).toBe(0);
      expect(await textKeys(target)).toEqual(['/openshift.io/useridentities/htpasswd:alice']);
      const again = await runCli(['restore', id], env(target, { RS_INCLUDE_RESOURCES: 'identities' }));
      expect(again.code).toBe(0);
    } finally {
      await target.stop();
    }
  });

  it('filter:controllers takes replication controllers and still the custom resource named controllers', async () => {
    const made = await runCli(['backup', '--strategy', 'filter:controllers', '--json'], env(source));
    expect(made.code).toBe(0);
    const target = await startEtcd();
    try {
      const res = await runCli(['restore', (JSON.parse(made.stdout) as { id: string }).id], env(target));
      expect(res.code).toBe(0);
      expect(await textKeys(target)).toEqual(['/kubernetes.io/controllers/ns1/rc1', '/kubernetes.io/example.com/controllers/ns1/c1']);
    } finally {
      await target.stop();
    }
  });

  it("oc's singular and short names (route, dc, scc) are refused before any work, naming the plural etcd stores", async () => {
    // RS_EXCLUDE_RESOURCES=route, meant to keep the routes out of a restore, wrote them all (exit 0, one note).
    const whole = await runCli(['backup', '--strategy', 'raw'], env(source));
    expect(whole.code).toBe(0);
    const target = await startEtcd();
    try {
      const res = await runCli(['restore', whole.stdout.split('\t')[0]!], env(target, { RS_EXCLUDE_RESOURCES: 'route' }));
      expect(res.stderr).toMatch(/RS_EXCLUDE_RESOURCES was invalid: "route" has "route", oc's name for routes: .*\(use "routes"\)/);
      expect(res.code).toBe(2);
      expect(await textKeys(target)).toEqual([]);
    } finally {
      await target.stop();
    }
    for (const [strategy, name, plural] of [['filter:secrets,dc', 'dc', 'deploymentconfigs'], ['filter:scc', 'scc', 'securitycontextconstraints']]) {
      const res = await runCli(['backup', '--strategy', strategy!], env(source));
      expect(res.stderr).toMatch(new RegExp(`has "${name}", oc's name for ${plural}: .*\\(use "${plural}"\\)`));
      expect(res.code, strategy).toBe(2);
    }
  });

  it('inspect --keys lists only what RS_INCLUDE_RESOURCES and RS_INCLUDE_NAMESPACES select, as --render does', async () => {
    // Its help names the selection variables, yet RS_INCLUDE_RESOURCES=routes listed every key of the snapshot.
    const snap = await runCli(['backup', '--strategy', 'snapshot'], env(source));
    expect(snap.code).toBe(0);
    const id = snap.stdout.split('\t')[0]!;
    const keysOf = (stdout: string) => stdout.trim().split('\n').slice(1).map((line) => line.split('\t')[0]);
    const routes = await runCli(['inspect', id, '--keys'], env(source, { RS_INCLUDE_RESOURCES: 'routes' }));
    expect(routes.code).toBe(0);
    expect(keysOf(routes.stdout)).toEqual(['/openshift.io/routes/ns1/r1']);
    const ids = await runCli(['inspect', id, '--keys'], env(source, { RS_INCLUDE_RESOURCES: 'useridentities' }));
    expect(keysOf(ids.stdout)).toEqual(['/openshift.io/useridentities/htpasswd:alice']);
    const ns1 = await runCli(['inspect', id, '--keys'], env(source, { RS_INCLUDE_NAMESPACES: 'ns1' }));
    expect(keysOf(ns1.stdout)).toEqual(['/kubernetes.io/controllers/ns1/rc1', '/kubernetes.io/example.com/controllers/ns1/c1', '/openshift.io/routes/ns1/r1']);
    const all = await runCli(['inspect', id, '--keys'], env(source));
    expect(keysOf(all.stdout)).toHaveLength(Object.keys(OBJECTS).length);
  });
});
