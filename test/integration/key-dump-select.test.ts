import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Etcd3 } from 'etcd3';
import type { Manifest } from '../../src/archive/manifest.js';
import { loadDataset } from '../../src/demo/load-dataset.js';
import { sampleDataset } from '../../src/demo/sample-data.js';
import { runCli } from '../helpers/cli.js';
import { bucketKeys } from '../helpers/faults.js';
import { runInProcess } from '../helpers/in-process.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { keyspace, values } from '../helpers/keyspace.js';
import { startS3, type TestS3 } from '../helpers/s3.js';

/** Key dumps in S3 restored into other clusters, whole and filtered; the `filter:` strategy. */
const PREFIXES = ['/registry', '/kubernetes.io', '/openshift.io'];
let source: TestEtcd;
let s3: TestS3;
let manifest: Manifest;
let expected: Map<string, string>;

beforeAll(async () => {
  [source, s3] = await Promise.all([startEtcd(), startS3()]);
  const client = new Etcd3({ hosts: source.endpoint });
  await loadDataset(client, sampleDataset({ namespaces: 3, podsPerNamespace: 5, edgeCases: true }));
  client.close();
  expected = values(await keyspace(source, PREFIXES));
});

afterAll(async () => {
  await Promise.all([source?.stop(), s3?.stop()]);
});

const env = (etcd: TestEtcd, extra: Record<string, string> = {}) => ({
  RS_ETCD_ENDPOINTS: etcd.endpoint,
  RS_CLUSTER_NAME: 'prod',
  RS_S3_PREFIX: 'etcd',
  ...s3.env,
  ...extra,
});

/** Runs `fn` with a fresh etcd, stopped afterwards. */
async function withTarget<T>(fn: (etcd: TestEtcd) => Promise<T>): Promise<T> {
  const target = await startEtcd();
  try {
    return await fn(target);
  } finally {
    await target.stop();
  }
}

const textKeys = async (etcd: TestEtcd) => [...(await keyspace(etcd)).keys()].map((k) => Buffer.from(k, 'base64').toString()).sort();

describe('key dumps in S3', () => {
  it('backs up to S3, lists, and restores from S3 into another cluster identically', async () => {
    const made = await runCli(['backup', '--json'], env(source, { RS_BACKUP_STRATEGY: 'raw' }));
    expect(made.code).toBe(0);
    manifest = JSON.parse(made.stdout) as Manifest;
    expect(manifest.keys).toBe(expected.size);
    const list = await runInProcess(['list'], env(source));
    expect(list.stdout).toMatch(new RegExp(`${manifest.id.replace('.', '\\.')}\\s+\\S+\\s+raw\\s+.*\\s${expected.size}\\s+none`));
    await withTarget(async (target) => {
      const res = await runCli(['restore', manifest.id], env(target));
      expect(res.code).toBe(0);
      expect(values(await keyspace(target))).toEqual(expected);
    });
  });

  it('restores with namespace and resource filters', async () => {
    await withTarget(async (target) => {
      const res = await runInProcess(['restore', manifest.id, '--json'], env(target, { RS_INCLUDE_NAMESPACES: 'team-1', RS_EXCLUDE_RESOURCES: 'secrets' }));
      expect(res.code).toBe(0);
      const keys = await textKeys(target);
      expect(keys).toEqual([
        '/registry/configmaps/team-1/web',
        '/registry/deployments/team-1/web',
        '/registry/events/team-1/web.17a1',
        '/registry/example.com/widgets/team-1/gadget',
        '/registry/namespaces/team-1',
        ...Array.from({ length: 5 }, (_, p) => `/registry/pods/team-1/web-${p.toString(36).padStart(4, '0')}`),
        '/registry/services/specs/team-1/web',
      ]);
      const report = JSON.parse(res.stdout) as { totals: { skippedBy: { filtered: number } } };
      expect(report.totals.skippedBy.filtered).toBe(expected.size - keys.length);
    });
  });

  it('filters that let no key of the backup through: exit 1 naming them (a typo), not "restored 0 keys"', async () => {
    await withTarget(async (target) => {
      for (const [extra, named] of [
        [{ RS_INCLUDE_NAMESPACES: 'tema-1' }, 'RS_INCLUDE_NAMESPACES=tema-1'],
        [{ RS_INCLUDE_RESOURCES: 'pdos', RS_INCLUDE_NAMESPACES: 'team-1' }, 'RS_INCLUDE_NAMESPACES=team-1 and RS_INCLUDE_RESOURCES=pdos'],
      ] as const) {
        for (const dryRun of [[], ['--dry-run']]) {
          const res = await runInProcess(['restore', manifest.id, ...dryRun], env(target, extra));
          expect(res.code, res.stderr).toBe(1);
          expect(res.stderr).toContain(`reshifter: the restore selected no key: ${named} matches nothing backup ${manifest.id} holds`);
          expect(res.stderr).toContain('nothing was written');
        }
      }
      expect(await textKeys(target)).toEqual([]);
    });
  });

  it('a filter entry that matches no key while the others do: the restore says so, naming it', async () => {
    await withTarget(async (target) => {
      const extra = { RS_INCLUDE_NAMESPACES: 'team-1,tema-2', RS_EXCLUDE_RESOURCES: 'events,widget' };
      const res = await runInProcess(['restore', manifest.id], env(target, extra));
      expect(res.code, res.stderr).toBe(0);
      expect(res.stdout).toContain(`note: RS_INCLUDE_NAMESPACES names "tema-2" (did you mean "team-2"?), which matches no key of backup ${manifest.id} (named as etcd stores them; "reshifter stats ${manifest.id}" lists them)\n`);
      expect(res.stdout).toContain(`note: RS_EXCLUDE_RESOURCES names "widget" (did you mean "widgets"?), which matches no key of backup ${manifest.id}`);
      // team-1 is restored all the same, its events left out.
      const keys = await textKeys(target);
      expect(keys).toContain('/registry/namespaces/team-1');
      expect(keys.filter((k) => k.startsWith('/registry/events/'))).toEqual([]);
      const json = await runInProcess(['restore', manifest.id, '--dry-run', '--json'], env(target, extra));
      expect((JSON.parse(json.stdout) as { unmatchedFilters: unknown }).unmatchedFilters).toEqual([
        { variable: 'RS_INCLUDE_NAMESPACES', names: ['tema-2'], nearest: { 'tema-2': 'team-2' } },
        { variable: 'RS_EXCLUDE_RESOURCES', names: ['widget'], nearest: { widget: 'widgets' } },
      ]);
      // Entries that all match say nothing.
      const clean = await runInProcess(['restore', manifest.id, '--dry-run'], env(target, { RS_INCLUDE_NAMESPACES: 'team-1' }));
      expect(clean.stdout).not.toContain('note:');
    });
  });

  it('filter:<resources> dumps only those resources, matched on the resource part of the key', async () => {
    // A pod named "services" and a namespace-less key with "deployments" in its name must not match.
    const client = new Etcd3({ hosts: source.endpoint });
    await client.put('/registry/pods/default/services').value('x');
    await client.put('/registry/configmaps/default/deployments').value('x');
    client.close();
    const res = await runInProcess(['backup', '--json'], env(source, { RS_BACKUP_STRATEGY: 'filter:deployments,services,namespaces' }));
    expect(res.code).toBe(0);
    const m = JSON.parse(res.stdout) as Manifest;
    expect(m.strategy).toBe('filter:deployments,services,namespaces');
    expect(m.keys).toBe(9);
    await withTarget(async (target) => {
      const restored = await runInProcess(['restore', m.id], env(target));
      expect(restored.code).toBe(0);
      expect(restored.stdout).toContain(`backup ${m.id} (filter:deployments,services,namespaces, revision ${m.etcd!.revision}, taken ${m.createdAt}): it holds only the resources its filter selected`);
      // By id: what was asked for, no note. As latest (the newest key dump): the newest raw dump is named, how to restore it.
      expect(restored.stdout).not.toContain('note:');
      const latest = await runInProcess(['restore', 'latest', '--dry-run'], env(target));
      expect(latest.code, latest.stderr).toBe(0);
      expect(latest.stdout).toContain(
        `\nnote: "latest" is the newest key dump, ${m.id} (filter:deployments,services,namespaces); the newest raw dump is ${manifest.id} ` +
          `(raw, revision ${manifest.etcd!.revision}, taken ${manifest.createdAt}): restore it with "reshifter restore ${manifest.id}" (or latest --strategy raw)\n`,
      );
      // --json (a script's restore) carried no note at all: the same note, as "note".
      const json = await runInProcess(['restore', 'latest', '--dry-run', '--json'], env(target));
      expect(json.code, json.stderr).toBe(0);
      expect((JSON.parse(json.stdout) as { note?: string }).note).toBe(
        `"latest" is the newest key dump, ${m.id} (filter:deployments,services,namespaces); the newest raw dump is ${manifest.id} ` +
          `(raw, revision ${manifest.etcd!.revision}, taken ${manifest.createdAt}): restore it with "reshifter restore ${manifest.id}" (or latest --strategy raw)`,
      );
      expect((JSON.parse((await runInProcess(['restore', m.id, '--dry-run', '--json'], env(target))).stdout) as { note?: string }).note).toBeUndefined();
      expect((await runInProcess(['restore', 'latest', '--dry-run', '--strategy', 'filter:deployments,services,namespaces'], env(target))).stdout).not.toContain('note:');
      const keys = await textKeys(target);
      expect(keys).toHaveLength(9);
      for (const k of keys) expect(k).toMatch(/^\/registry\/(deployments|services\/specs|namespaces)\/[^/]+(\/web)?$/);
    });
  });

  it('refuses a dump whose filters select no key (a typo: pdos for pods, a misspelt namespace), storing nothing', async () => {
    const before = (await runInProcess(['list', '--json'], env(source, { RS_CLUSTER_NAME: 'typos' }))).stdout;
    for (const extra of [{ RS_BACKUP_STRATEGY: 'filter:pdos' }, { RS_BACKUP_STRATEGY: 'raw', RS_INCLUDE_RESOURCES: 'pdos' }, { RS_BACKUP_STRATEGY: 'raw', RS_INCLUDE_NAMESPACES: 'prdo' }] as Array<Record<string, string>>) {
      const res = await runInProcess(['backup', '--json'], env(source, { RS_CLUSTER_NAME: 'typos', ...extra }));
      expect(res.code, JSON.stringify(extra)).toBe(1);
      expect(res.stdout).toBe('');
      expect(res.stderr).toMatch(/the backup selected no key: .*(filter:pdos|RS_INCLUDE_RESOURCES=pdos|RS_INCLUDE_NAMESPACES=prdo) matches nothing etcd holds .*no backup was stored/);
    }
    // kubectl's own names (pod, cm) never get that far: refused before any work, naming the plural etcd stores.
    for (const extra of [{ RS_BACKUP_STRATEGY: 'filter:secrets,configmap' }, { RS_BACKUP_STRATEGY: 'raw', RS_INCLUDE_RESOURCES: 'secrets,cm' }] as Array<Record<string, string>>) {
      const res = await runInProcess(['backup', '--json'], env(source, { RS_CLUSTER_NAME: 'typos', ...extra }));
      expect(res.code, JSON.stringify(extra)).toBe(2);
      expect(res.stderr).toMatch(/has "(configmap|cm)", kubectl's name for configmaps: .*\(use "configmaps"\)/);
    }
    expect((await runInProcess(['list', '--json'], env(source, { RS_CLUSTER_NAME: 'typos' }))).stdout).toBe(before);
    expect(await bucketKeys(s3, 'etcd/typos/')).toEqual([]);
  });

  it('a filter entry that matches no key while the others do: the dump is stored and the log names it (found by an operator pass)', async () => {
    // RS_BACKUP_STRATEGY=filter:secrets,confgmaps in an hourly CronJob stored the secrets and left the configmaps out
    // of every backup without a word: exit 0, nothing in the log.
    const res = await runCli(['backup', '--json'], env(source, { RS_CLUSTER_NAME: 'half-typo', RS_BACKUP_STRATEGY: 'filter:secrets,confgmaps', RS_INCLUDE_NAMESPACES: 'team-1,tema-2' }));
    expect(res.code, res.stderr).toBe(0);
    expect((JSON.parse(res.stdout) as Manifest).keys).toBeGreaterThan(0);
    const warned = res.stderr.split('\n').filter((l) => l.includes('"level":"warn"')).map((l) => JSON.parse(l) as { msg: string; notes: string[] });
    expect(warned.map((w) => w.msg)).toEqual(['filter entries matched no key etcd holds']);
    expect(warned[0]!.notes).toEqual([
      'RS_INCLUDE_NAMESPACES names "tema-2" (did you mean "team-2"?), which matches no key etcd holds: this backup holds nothing of it (named as etcd stores them; "reshifter stats" lists them)',
      'filter:secrets,confgmaps names "confgmaps" (did you mean "configmaps"?), which matches no key etcd holds: this backup holds nothing of it (named as etcd stores them; "reshifter stats" lists them)',
    ]);
    // A filter whose every entry matches something says nothing.
    const clean = await runCli(['backup'], env(source, { RS_CLUSTER_NAME: 'half-typo', RS_BACKUP_STRATEGY: 'filter:secrets,configmaps' }));
    expect(clean.code).toBe(0);
    expect(clean.stderr).not.toContain('"level":"warn"');
    // A render listing's filters the same.
    const render = await runCli(['backup'], env(source, { RS_CLUSTER_NAME: 'half-typo', RS_BACKUP_STRATEGY: 'render', RS_EXCLUDE_NAMESPACES: 'kube-sytem' }));
    expect(render.code, render.stderr).toBe(0);
    const notes = render.stderr.split('\n').filter((l) => l.includes('"level":"warn"')).map((l) => (JSON.parse(l) as { notes: string[] }).notes);
    expect(notes).toEqual([['RS_EXCLUDE_NAMESPACES names "kube-sytem", which matches no key etcd holds: it leaves nothing out of this backup (named as etcd stores them; "reshifter stats" lists them)']]);
  });

  it('restores an age-encrypted dump with the identity, and refuses without it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rs-age-'));
    try {
      const keyFile = join(dir, 'key.txt');
      execFileSync('age-keygen', ['-o', keyFile], { stdio: 'pipe' });
      const recipient = /public key: (age1\w+)/.exec(await readFile(keyFile, 'utf8'))![1]!;
      const made = await runInProcess(['backup', '--json'], env(source, { RS_BACKUP_STRATEGY: 'raw', RS_ENCRYPTION_RECIPIENTS: recipient, RS_CLUSTER_NAME: 'sealed' }));
      const m = JSON.parse(made.stdout) as Manifest;
      expect(m).toMatchObject({ encryption: 'age', artifact: expect.stringMatching(/\.raw\.tar\.zst\.age$/) as unknown });
      await withTarget(async (target) => {
        const refused = await runInProcess(['restore', m.id], env(target, { RS_CLUSTER_NAME: 'sealed' }));
        expect(refused.code).toBe(2);
        expect(refused.stderr).toMatch(/encrypted with age: it was encrypted to age1\w+: set RS_ENCRYPTION_IDENTITY_FILE/);
        expect(refused.stderr).not.toMatch(/after writing/);
        expect((await keyspace(target)).size).toBe(0);
        const res = await runInProcess(['restore', m.id], env(target, { RS_CLUSTER_NAME: 'sealed', RS_ENCRYPTION_IDENTITY_FILE: keyFile }));
        expect(res.code).toBe(0);
        expect(values(await keyspace(target, PREFIXES))).toEqual(values(await keyspace(source, PREFIXES)));
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
