import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Etcd3 } from 'etcd3';
import type { Manifest } from '../../src/archive/manifest.js';
import { loadDataset } from '../../src/demo/load-dataset.js';
import { sampleDataset } from '../../src/demo/sample-data.js';
import { runCli } from '../helpers/cli.js';
import { runInProcess } from '../helpers/in-process.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { b64, keyspace, values } from '../helpers/keyspace.js';

/**
 * The raw key dump end to end through the built CLI: a Kubernetes-like dataset (protobuf, JSON custom resources,
 * encrypted secrets, leased events, OpenShift keys, odd names, a ~1.4 MB value, an empty value, binary keys) is
 * dumped into a local directory, restored into fresh etcds and compared key by key. (S3 and filters:
 * key-dump-select.test.ts.)
 */
const PREFIXES = ['/registry', '/kubernetes.io', '/openshift.io'];
let source: TestEtcd;
let work: string;
let manifest: Manifest;
let expected: Map<string, string>;
const dataset = [...sampleDataset({ namespaces: 3, podsPerNamespace: 5, edgeCases: true })];

beforeAll(async () => {
  source = await startEtcd();
  work = await mkdtemp(join(tmpdir(), 'rs-dump-'));
  const client = new Etcd3({ hosts: source.endpoint });
  await loadDataset(client, dataset);
  client.close();
  expected = values(await keyspace(source, PREFIXES));
});

afterAll(async () => {
  await Promise.all([source?.stop(), work && rm(work, { recursive: true, force: true })]);
});

const localEnv = (etcd: TestEtcd, extra: Record<string, string> = {}) => ({
  RS_ETCD_ENDPOINTS: etcd.endpoint,
  RS_BACKUP_DIR: join(work, 'store'),
  RS_CLUSTER_NAME: 'prod',
  ...extra,
});

describe('raw key dump', () => {
  it('dumps every Kubernetes key with its revision into a verified tar.zst artifact (zstd, the default)', async () => {
    const res = await runCli(['backup', '--json'], localEnv(source, { RS_BACKUP_STRATEGY: 'raw' }));
    expect(res.stderr).toContain('backup completed');
    expect(res.code).toBe(0);
    manifest = JSON.parse(res.stdout) as Manifest;
    expect(manifest).toMatchObject({ strategy: 'raw', contentType: 'tar', compression: 'zstd', keys: expected.size, prefixes: PREFIXES.slice().sort() });
    // compact_rev_key lies outside the Kubernetes prefixes.
    expect(expected.size).toBe(dataset.length - 1);
    const status = JSON.parse(await source.ctl(['endpoint', 'status', '-w', 'json'])) as Array<{ Status: { header: { revision: number } } }>;
    expect(manifest.etcd!.revision).toBe(status[0]!.Status.header.revision);
    expect(manifest.artifact).toMatch(/\.raw\.tar\.zst$/);
    const verify = await runInProcess(['verify', manifest.id], localEnv(source));
    expect(verify.stdout).toMatch(/ok\s+content\s+tar ok/);
    expect(verify.code).toBe(0);
  });

  it('restores into a fresh etcd: every key and value identical, leased keys on fresh leases, namespaces and CRDs first', async () => {
    const target = await startEtcd();
    try {
      const res = await runCli(['restore', manifest.id], localEnv(target));
      expect(res.stderr).not.toMatch(/error/i);
      expect(res.code).toBe(0);
      // A rate only over a second or more (restore-tiny.test.ts).
      expect(res.stdout).toMatch(new RegExp(`restored ${expected.size} keys into .* in (\\d+ms|[\\d.]+s \\(\\d+ keys/s\\))\n`));
      const got = await keyspace(target);
      expect(values(got)).toEqual(expected);
      // Every leased event came back on a lease with its remaining TTL, never as a permanent key.
      const events = [...got].filter(([k]) => Buffer.from(k, 'base64').toString().startsWith('/registry/events/'));
      expect(events).toHaveLength(3);
      const client = new Etcd3({ hosts: target.endpoint });
      try {
        for (const [, kv] of events) {
          expect(kv.lease).not.toBe('0');
          const secs = Number((await client.leaseClient.leaseTimeToLive({ ID: kv.lease })).TTL);
          expect(secs).toBeGreaterThan(3500);
          expect(secs).toBeLessThanOrEqual(3600);
        }
      } finally {
        client.close();
      }
      for (const [k, kv] of got) if (!Buffer.from(k, 'base64').toString().startsWith('/registry/events/')) expect(kv.lease).toBe('0');
      const rev = (key: string) => got.get(b64(key))!.createRevision;
      const lastNamespace = Math.max(...['default', 'team-1', 'team-2'].map((n) => rev(`/registry/namespaces/${n}`)));
      const crd = rev('/registry/apiextensions.k8s.io/customresourcedefinitions/widgets.example.com');
      expect(lastNamespace).toBeLessThan(crd);
      expect(crd).toBeLessThan(rev('/registry/example.com/widgets/default/gadget'));
      expect(crd).toBeLessThan(rev('/registry/configmaps/default/web'));

      // A second run finds everything in place and writes nothing.
      const again = await runInProcess(['restore', manifest.id, '--json'], localEnv(target));
      expect(again.code).toBe(0);
      const report = JSON.parse(again.stdout) as { written: number; totals: { unchanged: number } };
      expect(report.written).toBe(0);
      expect(report.totals.unchanged).toBe(expected.size);
    } finally {
      await target.stop();
    }
  });

  it('--dry-run prints the plan and writes nothing; --skip-existing leaves present keys alone', async () => {
    const target = await startEtcd();
    try {
      // The target holds the dataset already (written directly, without leases), with three differences.
      const client = new Etcd3({ hosts: target.endpoint });
      await loadDataset(client, dataset.filter((k) => k.leaseTtl === undefined && k.key.toString() !== 'compact_rev_key'));
      await client.put('/registry/pods/default/web-0000').value('changed');
      await client.delete().key('/registry/configmaps/default/web');
      await client.put('/registry/pods/default/only-here').value('x');
      client.close();
      const before = await keyspace(target);

      const dry = await runInProcess(['restore', manifest.id, '--dry-run'], localEnv(target));
      expect(dry.code).toBe(0);
      // First, which backup it read.
      expect(dry.stdout.split('\n')[0]).toBe(`backup ${manifest.id} (${manifest.strategy}, revision ${manifest.etcd!.revision}, taken ${manifest.createdAt})`);
      expect(dry.stdout).toMatch(/^pods\s+0\s+1\s+\d+\s+0$/m);
      expect(dry.stdout).toMatch(/^configmaps\s+1\s+0\s+\d+\s+0$/m);
      expect(dry.stdout).toMatch(/^events\s+3\s+0\s+0\s+0$/m);
      expect(dry.stdout).toMatch(new RegExp(`dry run: would write 5 of ${expected.size} keys .* nothing was written`));
      expect(values(await keyspace(target))).toEqual(values(before));

      const skip = await runInProcess(['restore', manifest.id, '--skip-existing', '--json'], localEnv(target));
      expect(skip.code).toBe(0);
      const report = JSON.parse(skip.stdout) as { written: number; totals: { skippedBy: { exists: number } } };
      expect(report.written).toBe(4);
      expect(report.totals.skippedBy.exists).toBe(expected.size - 4);
      const after = await keyspace(target);
      expect(Buffer.from(after.get(b64('/registry/pods/default/web-0000'))!.value, 'base64').toString()).toBe('changed');
      expect(after.get(b64('/registry/configmaps/default/web'))!.value).toBe(expected.get(b64('/registry/configmaps/default/web')));

      // The default overwrites, and keys that only the target has are kept.
      expect((await runInProcess(['restore', manifest.id], localEnv(target))).code).toBe(0);
      const final = values(await keyspace(target));
      expect(final.get(b64('/registry/pods/default/web-0000'))).toBe(expected.get(b64('/registry/pods/default/web-0000')));
      expect(final.has(b64('/registry/pods/default/only-here'))).toBe(true);
    } finally {
      await target.stop();
    }
  });

  it('refuses a corrupt backup before writing anything', async () => {
    const dir = join(work, 'store', 'prod');
    const artifact = join(dir, manifest.artifact);
    const good = await readFile(artifact);
    const bad = Buffer.from(good);
    bad[Math.floor(bad.length / 2)] = bad[Math.floor(bad.length / 2)]! ^ 0x01;
    await writeFile(artifact, bad);
    const target = await startEtcd();
    try {
      const res = await runCli(['restore', manifest.id], localEnv(target));
      expect(res.code).toBe(1);
      expect(res.stderr).toMatch(/sha256: backup .* hash to .* refusing to use a corrupt backup/);
      expect((await keyspace(target)).size).toBe(0);
    } finally {
      await writeFile(artifact, good);
      await target.stop();
    }
  });

  it('a restore that fails half-way says how many keys it wrote, and a re-run completes it', async () => {
    // A target that refuses requests over 1 MiB cannot take the ~1.4 MB value.
    const dataDir = await mkdtemp(join(tmpdir(), 'rs-small-'));
    let target = await startEtcd({ dataDir, args: ['--max-request-bytes', String(1024 * 1024)] });
    try {
      const res = await runInProcess(['restore', manifest.id], localEnv(target));
      expect(res.code).toBe(1);
      const written = Number(/after writing (\d+) keys; run it again/.exec(res.stderr)?.[1]);
      expect(written).toBeGreaterThan(3);
      expect(written).toBeLessThan(expected.size);
      expect(res.stderr).toMatch(/size limits|too large/);
      expect((await keyspace(target)).size).toBe(written);
      await target.stop();
      target = await startEtcd({ dataDir });
      const again = await runInProcess(['restore', manifest.id, '--json'], localEnv(target));
      expect(again.code).toBe(0);
      const report = JSON.parse(again.stdout) as { written: number; totals: { unchanged: number } };
      expect(report.totals.unchanged).toBe(written);
      expect(report.written).toBe(expected.size - written);
      expect(values(await keyspace(target))).toEqual(expected);
    } finally {
      await target.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
