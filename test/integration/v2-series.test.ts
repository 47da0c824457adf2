import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';

/**
 * An etcd that holds Kubernetes in its v3 keyspace and flannel's network config in its v2 keyspace (/coreos.com), as
 * older clusters do: one job dumps v3, another v2 (`RS_ETCD_API_VERSION=v2`, as reshifter's own warning says: "set
 * RS_ETCD_API_VERSION=v2 to back up the v2 keys too, in a backup of their own"). Both are `raw`; before, they were
 * one series, so each job's retention (`RS_RETENTION_KEEP_LAST=1`) deleted the other job's dumps.
 */
let etcd: TestEtcd;
let work: string;
beforeAll(async () => {
  etcd = await startEtcd({ enableV2: true });
  work = await mkdtemp(join(tmpdir(), 'rs-v2-series-'));
});
afterAll(async () => {
  await etcd?.stop();
  await rm(work, { recursive: true, force: true });
});

it('a v2 key dump is a series of its own (raw@v2): retention of one never deletes the v3 dumps, and --strategy names it', async () => {
  await etcd.ctl(['put', '/registry/namespaces/default', '{"kind":"Namespace"}']);
  const body = new URLSearchParams({ value: '{"Network":"10.244.0.0/16"}' });
  expect((await fetch(`${etcd.endpoint}/v2/keys/coreos.com/network/config`, { method: 'PUT', body })).status).toBe(201);
  const env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: join(work, 'store'), RS_RETENTION_KEEP_LAST: '1' };
  const v3 = await runCli(['backup', '--json', '--strategy', 'raw'], { ...env, RS_ETCD_API_VERSION: 'v3' });
  expect(v3.code, v3.stderr).toBe(0);
  const v2 = await runCli(['backup', '--json', '--strategy', 'raw'], { ...env, RS_ETCD_API_VERSION: 'v2', RS_KUBE_PREFIXES: '/coreos.com' });
  expect(v2.code, v2.stderr).toBe(0);

  const listed = await runCli(['list', '--json'], env);
  expect(listed.code, listed.stderr).toBe(0);
  const ids = (JSON.parse(listed.stdout) as Manifest[]).map((m) => `${m.id} ${m.etcd!.apiVersion}`);
  const [v3Id, v2Id] = [v3, v2].map((r) => (JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Manifest).id);
  expect(ids.sort()).toEqual([`${v3Id} v3`, `${v2Id} v2`].sort());

  const plan = await runCli(['prune', '--dry-run'], env);
  expect(plan.code, plan.stderr).toBe(0);
  expect(plan.stdout).toContain(`keep\t${v3Id}\traw\tnewest,last`);
  expect(plan.stdout).toContain(`keep\t${v2Id}\traw@v2\tnewest,last`);
  const text = await runCli(['list', '--strategy', 'raw@v2'], env);
  expect(text.code, text.stderr).toBe(0);
  expect(text.stdout).toMatch(new RegExp(`^${v2Id.replace(/\./g, '\\.')} .* raw@v2 `, 'm'));
  expect(text.stdout).not.toContain(v3Id);
  const snapshot = await runCli(['list', '--strategy', 'snapshot@v2'], env);
  expect(snapshot.code).toBe(2);
  expect(snapshot.stderr).toContain('a snapshot holds the v3 keyspace only');
}, 60_000);

it('restore latest of a v2 dump says it is the v2 keyspace and names the newest v3 raw dump, as for a filter: dump', async () => {
  // Before: "backup <v2 id> (raw, revision 2, ...)" and its plan, nothing more: in a recovery an operator restored
  // flannel's v2 config believing it was the cluster. The store of the test above: a v3 raw dump, then a v2 one.
  const env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: join(work, 'store') };
  const listed = JSON.parse((await runCli(['list', '--json'], env)).stdout) as Manifest[];
  const v2 = listed.find((m) => m.etcd!.apiVersion === 'v2')!;
  const v3 = listed.find((m) => m.etcd!.apiVersion === 'v3')!;
  const res = await runCli(['restore', 'latest', '--dry-run'], env);
  expect(res.code, res.stderr).toBe(0);
  expect(res.stdout).toContain(`backup ${v2.id} (raw, revision ${v2.etcd!.revision}, taken ${v2.createdAt}): it holds etcd's v2 keyspace\n`);
  expect(res.stdout).toContain(`note: "latest" is the newest key dump, ${v2.id} (raw, etcd's v2 keyspace); the newest raw dump (etcd's v3 keyspace, where Kubernetes keeps its objects) is ${v3.id} (raw, revision ${v3.etcd!.revision}`);
  // Asked for by series, the v2 dump is what was meant: no note.
  const named = await runCli(['restore', 'latest', '--strategy', 'raw@v2', '--dry-run'], env);
  expect(named.code, named.stderr).toBe(0);
  expect(named.stdout).not.toContain('note:');
}, 60_000);

it('diff of a v3 dump and a v2 dump says they hold two keyspaces etcd keeps apart', async () => {
  // Before: the counts alone (here no prefix in common; with the same prefixes, every v3 key "removed" and every v2 key
  // "added", read as a disaster), never that the two backups hold different keyspaces.
  const env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: join(work, 'store') };
  const listed = JSON.parse((await runCli(['list', '--json'], env)).stdout) as Manifest[];
  const v2 = listed.find((m) => m.etcd!.apiVersion === 'v2')!;
  const v3 = listed.find((m) => m.etcd!.apiVersion === 'v3')!;
  const res = await runCli(['diff', v3.id, v2.id], env);
  expect(res.code, res.stderr).toBe(0);
  expect(res.stdout).toContain(`note: ${v3.id} holds etcd's v3 keyspace and ${v2.id} its v2 keyspace, which etcd keeps apart`);
  const json = await runCli(['diff', v3.id, v2.id, '--json'], env);
  expect((JSON.parse(json.stdout) as { keyspaces?: unknown }).keyspaces).toEqual({ from: 'v3', to: 'v2' });
  const same = await runCli(['diff', v3.id, v3.id, '--json'], env);
  expect(JSON.parse(same.stdout)).not.toHaveProperty('keyspaces');
}, 60_000);
