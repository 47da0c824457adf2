import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Etcd3 } from 'etcd3';
import type { Manifest } from '../../src/archive/manifest.js';
import { loadConfig } from '../../src/config/load-config.js';
import { AbortedError } from '../../src/core/errors.js';
import { loadDataset } from '../../src/demo/load-dataset.js';
import { sampleDataset } from '../../src/demo/sample-data.js';
import { createLogger } from '../../src/log.js';
import type { OpContext } from '../../src/ops/context.js';
import { backupStats } from '../../src/ops/stats.js';
import { BackupRepository } from '../../src/store/backup-repository.js';
import { LocalStore } from '../../src/store/local-store.js';
import { etcdTlsArgs, makeCerts, type TestCerts } from '../helpers/certs.js';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { loggedOp } from '../helpers/progress-log.js';
import { runInProcess } from '../helpers/in-process.js';
import { etcdWithSnapshotFile, type SnapshotFileSetup } from '../helpers/snapshot-file.js';
import { parseArgs } from '../../src/cli.js';
import { statsCommand } from '../../src/commands/stats.js';

/** `explore`, `stats` and the `render` listing against real etcds: plain with OpenShift data, v2, auth, mutual TLS. */
const dataset = [...sampleDataset({ namespaces: 3, podsPerNamespace: 5, edgeCases: true })];
const inPrefixes = dataset.filter((k) => k.key.toString() !== 'compact_rev_key');
let source: TestEtcd;
let work: string;

beforeAll(async () => {
  source = await startEtcd();
  work = await mkdtemp(join(tmpdir(), 'rs-explore-'));
  const client = new Etcd3({ hosts: source.endpoint });
  await loadDataset(client, dataset);
  client.close();
});

afterAll(async () => {
  await Promise.all([source?.stop(), work && rm(work, { recursive: true, force: true })]);
});

const env = (etcd: TestEtcd, extra: Record<string, string> = {}) => ({ RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: work, ...extra });

interface Explored {
  apiVersions: string[];
  authEnabled?: boolean;
  tls: boolean;
  clientCertificateRequired?: boolean;
  kubernetes: { distribution: string; prefixes: Array<{ prefix: string; api: string; keys?: number }> };
}

interface Stats {
  keys: number;
  valueBytes: number;
  byPrefix: Record<string, { keys: number }>;
  byResource: Record<string, { keys: number; bytes: number }>;
  byNamespace: Record<string, { keys: number }>;
  byEncoding: Record<string, { keys: number }>;
}

describe('explore', () => {
  it('reports APIs, the OpenShift distribution with its prefixes and key counts, and security', async () => {
    const res = await runCli(['explore', '--json'], env(source));
    expect(res.code).toBe(0);
    const e = JSON.parse(res.stdout) as Explored;
    expect(e.apiVersions).toEqual(['v3']);
    expect(e.kubernetes.distribution).toBe('openshift');
    expect(e.kubernetes.prefixes).toEqual([
      { prefix: '/kubernetes.io', keys: 1, api: 'v3' },
      { prefix: '/openshift.io', keys: 2, api: 'v3' },
      { prefix: '/registry', keys: inPrefixes.length - 3, api: 'v3' },
    ]);
    expect(e).toMatchObject({ tls: false, authEnabled: false });
    const text = await runInProcess(['explore'], env(source));
    expect(text.stdout).toMatch(/kubernetes:\s+openshift/);
    expect(text.stdout).toMatch(/\/registry \(v3\) \d+ keys/);
  });

  it("names the alarms etcd has raised (NOSPACE: every write refused), as etcdctl endpoint status does; none when none", async () => {
    // Before: nothing; a restored or full etcd looked healthy to the check README's disaster recovery asks for.
    expect((JSON.parse((await runInProcess(['explore', '--json'], env(source))).stdout) as { alarms: string[] }).alarms).toEqual([]);
    expect((await runInProcess(['explore'], env(source))).stdout).not.toMatch(/^alarms:/m);
    const full = await startEtcd({ args: ['--quota-backend-bytes', String(2 * 1024 * 1024)] });
    try {
      const client = new Etcd3({ hosts: full.endpoint });
      await expect(
        (async () => {
          for (let i = 0; i < 100; i++) await client.put(`/registry/configmaps/default/fill-${i}`).value(Buffer.alloc(256 * 1024, 1));
        })(),
      ).rejects.toThrow(/database space exceeded/);
      client.close();
      const e = JSON.parse((await runInProcess(['explore', '--json'], env(full))).stdout) as { alarms: string[] };
      expect(e.alarms).toEqual([expect.stringMatching(/^NOSPACE \(member \d+\)$/)]);
      const text = await runInProcess(['explore'], env(full));
      expect(text.code).toBe(0);
      expect(text.stdout).toMatch(/^alarms: {7}NOSPACE \(member \d+\): etcd refuses writes until they are cleared \(NOSPACE: make room, then "etcdctl alarm disarm"\)$/m);
    } finally {
      await full.stop();
    }
  });

  it('sees the v2 API and v2 data; vanilla Kubernetes; nothing on an empty etcd', async () => {
    const v2 = await startEtcd({ enableV2: true });
    try {
      const empty = JSON.parse((await runInProcess(['explore', '--json'], env(v2))).stdout) as Explored;
      expect(empty.apiVersions).toEqual(['v3', 'v2']);
      expect(empty.kubernetes).toEqual({ distribution: 'none', prefixes: [] });
      await fetch(`${v2.endpoint}/v2/keys/registry/pods/default/a`, { method: 'PUT', body: new URLSearchParams({ value: '{}' }) });
      const e = JSON.parse((await runInProcess(['explore', '--json'], env(v2))).stdout) as Explored;
      expect(e.kubernetes).toEqual({ distribution: 'vanilla', prefixes: [{ prefix: '/registry', api: 'v2' }] });
    } finally {
      await v2.stop();
    }
  });

  it('finds auth enabled, and dumps keys with credentials', async () => {
    // --enable-v2: the v2 API answers anyone whatever the v3 credentials, and must not pass for the whole story.
    const secured = await startEtcd({ enableV2: true });
    try {
      await secured.ctl(['put', '/registry/pods/default/a', 'x']);
      await secured.ctl(['user', 'add', 'root:s3cret']);
      await secured.ctl(['auth', 'enable']);
      await fetch(`${secured.endpoint}/v2/keys/registry/pods/default/old`, { method: 'PUT', body: new URLSearchParams({ value: '{}' }) });

      // Without credentials, and with refused ones: the facts etcd tells anyone, then exit 1 saying why the keyspace
      // was not read and what to set.
      for (const [creds, why] of [
        [{}, /: etcd has authentication enabled: set RS_ETCD_USERNAME and RS_ETCD_PASSWORD$/m],
        [{ RS_ETCD_USERNAME: 'root', RS_ETCD_PASSWORD: 'wrong' }, /: etcd refused the credentials \(check RS_ETCD_USERNAME and RS_ETCD_PASSWORD\)$/m],
      ] as const) {
        const json = await runCli(['explore', '--json'], env(secured, creds));
        expect(json.code).toBe(1);
        expect(json.stderr).toMatch(/^reshifter: the v3 keyspace could not be read at http:\/\/127\.0\.0\.1:\d+: /m);
        expect(json.stderr).toMatch(why);
        const e = JSON.parse(json.stdout) as Explored & { etcdVersion: string; revision: number; keyspaceError: string };
        expect(e).toMatchObject({ apiVersions: ['v3', 'v2'], authEnabled: true, etcdVersion: expect.stringMatching(/^3\./) });
        expect(e.revision).toBeGreaterThan(0);
        expect(e.keyspaceError).toMatch(why);
        const text = await runCli(['explore'], env(secured, creds));
        expect(text.code).toBe(1);
        expect(text.stdout).toMatch(/^etcd version: 3\.\d+\.\d+ \(API v3, v2\)$/m);
        expect(text.stdout).toMatch(/^kubernetes: .*\(the v3 keyspace could not be read\)$/m);
        expect(text.stderr).toMatch(why);
        expect(text.stderr).not.toMatch(/wrong|s3cret/);
      }

      const creds = { RS_ETCD_USERNAME: 'root', RS_ETCD_PASSWORD: 's3cret', RS_BACKUP_STRATEGY: 'raw', RS_CLUSTER_NAME: 'auth' };
      const explored = await runCli(['explore', '--json'], env(secured, creds));
      expect(explored.code).toBe(0);
      expect(JSON.parse(explored.stdout)).toMatchObject({ authEnabled: true, kubernetes: { prefixes: [{ prefix: '/registry', api: 'v3', keys: 1 }, { prefix: '/registry', api: 'v2' }] } });
      const res = await runInProcess(['backup', '--json'], env(secured, creds));
      expect(res.stderr).toBe('');
      expect((JSON.parse(res.stdout) as Manifest).keys).toBe(1);
    } finally {
      await secured.stop();
    }
  });

  it('finds mutual TLS required, and dumps keys over it', async () => {
    let certs: TestCerts | undefined;
    let mutual: TestEtcd | undefined;
    try {
      certs = await makeCerts();
      mutual = await startEtcd({
        scheme: 'https',
        args: etcdTlsArgs(certs, { clientCertAuth: true }),
        tls: { caFile: certs.ca, certFile: certs.client.cert, keyFile: certs.client.key },
      });
      await mutual.ctl(['put', '/registry/secrets/default/tls', 'k8s:enc:aescbc:v1:key1:xxxx']);
      const tlsEnv = { RS_ETCD_CA_CERT: certs.ca, RS_ETCD_CLIENT_CERT: certs.client.cert, RS_ETCD_CLIENT_KEY: certs.client.key, RS_CLUSTER_NAME: 'tls' };
      const e = JSON.parse((await runInProcess(['explore', '--json'], env(mutual, tlsEnv))).stdout) as Explored;
      expect(e).toMatchObject({ tls: true, clientCertificateRequired: true, authEnabled: false });
      const res = await runInProcess(['stats', '--json'], env(mutual, tlsEnv));
      expect((JSON.parse(res.stdout) as Stats).byEncoding).toEqual({ encrypted: { keys: 1, bytes: 56 } });
    } finally {
      await mutual?.stop();
      await certs?.remove();
    }
  });
});

describe('stats and render', () => {
  it('counts a live etcd by prefix, resource, namespace and encoding', async () => {
    const res = await runCli(['stats', '--json'], env(source));
    expect(res.code).toBe(0);
    const s = JSON.parse(res.stdout) as Stats;
    expect(s.keys).toBe(inPrefixes.length);
    expect(s.valueBytes).toBe(inPrefixes.reduce((n, k) => n + k.value.length, 0));
    expect(s.byPrefix).toMatchObject({ '/registry': { keys: inPrefixes.length - 3 }, '/openshift.io': { keys: 2 }, '/kubernetes.io': { keys: 1 } });
    expect(s.byResource.pods!.keys).toBe(3 * 5 + 1);
    expect(s.byResource.configmaps!.keys).toBe(3 + 7);
    expect(s.byResource['widgets.example.com']!.keys).toBe(3);
    expect(s.byResource.events!.keys).toBe(3);
    expect(s.byNamespace['team-2']!.keys).toBe(3 + 1 + 5 + 1 + 1);
    expect(s.byEncoding).toMatchObject({ encrypted: { keys: 3 }, json: { keys: 4 }, cbor: { keys: 1 }, empty: { keys: 1 } });
    // Filters apply to stats too.
    const filtered = JSON.parse((await runInProcess(['stats', '--json'], env(source, { RS_INCLUDE_NAMESPACES: 'team-1' }))).stdout) as Stats;
    expect(Object.keys(filtered.byNamespace).sort()).toEqual(['(cluster-scoped)', 'team-1']);
    expect(filtered.byNamespace['(cluster-scoped)']!.keys).toBe(1);
  });

  it('render prints the audit listing, stores it, and stats of the stored listing match the live ones', async () => {
    const res = await runCli(['backup', '--strategy', 'render', '--cluster', 'audit', '--json'], env(source));
    expect(res.code).toBe(0);
    const lines = res.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const m = lines.pop() as unknown as Manifest;
    expect(m).toMatchObject({ strategy: 'render', contentType: 'jsonl', keys: inPrefixes.length });
    expect(lines).toHaveLength(inPrefixes.length);
    expect(lines.find((r) => r.key === '/registry/pods/team-1/web-0001')).toMatchObject({
      kind: 'Pod', apiVersion: 'v1', namespace: 'team-1', name: 'web-0001', labels: { app: 'web' }, creationTimestamp: '2025-11-13T02:13:20Z', encoding: 'protobuf',
    });
    expect(lines.find((r) => r.key === '/registry/secrets/team-1/db-password')).toMatchObject({ encoding: 'encrypted', encryption: 'aescbc/key1' });
    const verify = await runInProcess(['verify', m.id, '--cluster', 'audit'], env(source));
    expect(verify.stdout).toMatch(/ok\s+content\s+jsonl ok/);
    const live = JSON.parse((await runInProcess(['stats', '--json'], env(source))).stdout) as Stats;
    const stored = JSON.parse((await runInProcess(['stats', m.id, '--cluster', 'audit', '--json'], env(source))).stdout) as Stats & { source: unknown };
    expect({ ...stored, source: undefined }).toEqual({ ...live, source: undefined });
  });

  it('stats of a snapshot backup match the live ones; --keys lists every key', async () => {
    const made = JSON.parse((await runInProcess(['backup', '--json', '--cluster', 'snap'], env(source))).stdout) as Manifest;
    expect(made.strategy).toBe('snapshot');
    const live = JSON.parse((await runInProcess(['stats', '--json'], env(source))).stdout) as Stats;
    const stored = JSON.parse((await runInProcess(['stats', made.id, '--cluster', 'snap', '--json', '--keys'], env(source))).stdout) as Stats & { keyList: Array<{ key: string }> };
    expect(stored.byResource).toEqual(live.byResource);
    // The prefixes in one order, sorted as a key dump's manifest holds them (before: the snapshot's in the order of
    // the default list, /registry first, the live ones sorted).
    const prefixesOf = (s: unknown) => (s as { source: { prefixes: string[] } }).source.prefixes;
    expect(prefixesOf(live)).toEqual(['/kubernetes.io', '/openshift.io', '/registry']);
    expect(prefixesOf(stored)).toEqual(prefixesOf(live));
    expect(stored.keyList).toHaveLength(inPrefixes.length);
    const text = await runInProcess(['stats', '--keys'], env(source));
    expect(text.stdout.split('\n')[0]).toBe('KEY\tKIND\tAPIVERSION\tNAMESPACE\tNAME\tUID\tCREATED\tSIZE\tENCODING\tLABELS');
    expect(text.stdout).toMatch(/^\/registry\/namespaces\/team-1\tNamespace\tv1\t-\tteam-1\t/m);
    expect(text.stdout).toMatch(/^RESOURCE\s+KEYS\s+BYTES$/m);
  });

  // Before: a snapshot's keys were counted to the end after SIGTERM (the offline walk is no stream the signal stops),
  // and stats exited 0 however long that took.
  it('stats of a snapshot backup stopped by the signal mid-walk: "stats of backup <id> stopped", no key counted after it', async () => {
    const made = JSON.parse((await runInProcess(['backup', '--json', '--cluster', 'snap-stop'], env(source))).stdout) as Manifest;
    const loaded = loadConfig({ ...env(source), RS_CLUSTER_NAME: 'snap-stop' });
    if (!loaded.config) throw new Error(loaded.errors.join('; '));
    const controller = new AbortController();
    const ctx: OpContext = { config: loaded.config, log: createLogger('silent'), signal: controller.signal };
    const repo = new BackupRepository(new LocalStore(work), 'snap-stop');
    let rows = 0;
    // The signal comes with the first key counted.
    const onRow = () => (++rows === 1 ? controller.abort(new Error('received SIGTERM')) : undefined);
    const err = await backupStats(ctx, repo, made, { onRow }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortedError);
    expect((err as Error).message).toBe(`stats of backup ${made.id} stopped: received SIGTERM`);
    expect(rows).toBe(1);
    expect(inPrefixes.length).toBeGreaterThan(10);
  });
});

describe('stats of a stored backup that lasts', () => {
  let etcd: TestEtcd;
  beforeAll(async () => {
    etcd = await startEtcd();
    const client = new Etcd3({ hosts: etcd.endpoint });
    await loadDataset(client, [...sampleDataset({ namespaces: 20, podsPerNamespace: 20 })]);
    client.close();
  });
  afterAll(() => etcd?.stop());

  // Before: stats of a stored backup (a million keys: 20-40 s) logged nothing between "reading backup" and its end,
  // where stats of the live etcd logs a `progress` line every 5 s. Here the count lasts longer than that: its reader
  // (`stats --keys | less`) holds it back for 6 s after the first 256 keys.
  it.each(['raw', 'snapshot'])('stats of a %s backup reports its progress as the live stats does', async (strategy) => {
    const cluster = `progress-${strategy}`;
    const made = JSON.parse((await runInProcess(['backup', '--json', '--cluster', cluster], env(etcd, { RS_BACKUP_STRATEGY: strategy }))).stdout) as Manifest;
    const loaded = loadConfig({ ...env(etcd), RS_CLUSTER_NAME: cluster });
    if (!loaded.config) throw new Error(loaded.errors.join('; '));
    const lines: Array<{ msg: string; what?: string; keys?: number; bytes?: number }> = [];
    const log = createLogger('info', { write: (l: string) => void lines.push(JSON.parse(l) as (typeof lines)[number]) });
    const ctx: OpContext = { config: loaded.config, log, signal: new AbortController().signal };
    let held = false;
    const backlog = () => (held ? undefined : ((held = true), new Promise<void>((r) => setTimeout(r, 6000))));
    const res = await backupStats(ctx, new BackupRepository(new LocalStore(work), cluster), made, { backlog });
    expect(held).toBe(true);
    const progress = lines.filter((l) => l.msg === 'progress');
    expect(progress.length, JSON.stringify(lines)).toBeGreaterThan(0);
    expect(progress.every((p) => p.what === 'stats' && p.keys! >= 256 && p.keys! <= res.report.keys && p.bytes! > 0)).toBe(true);
  }, 30_000);

  // Before: stats of a snapshot said `"keys":0,"bytes":0` for as long as the pass that finds its live keys took (it
  // goes through every revision of etcd's key bucket before the first key is counted: a 315 MiB snapshot of 150k keys
  // from S3 logged `keys: 0` 6 s in), which reads as stuck. Now each line says how many revisions that pass has gone
  // through, `scanned`, up to every revision of the snapshot. The stats is real; only the progress timer is faked,
  // advanced 5 s at every turn of the event loop, so that the short passes here report.
  it('stats of a snapshot backup reports the revisions the pass that finds its keys went through', async () => {
    const cluster = 'progress-scan';
    const made = JSON.parse((await runInProcess(['backup', '--json', '--cluster', cluster], env(etcd))).stdout) as Manifest;
    const { lines } = await loggedOp({ ...env(etcd), RS_CLUSTER_NAME: cluster }, (ctx) => backupStats(ctx, new BackupRepository(new LocalStore(work), cluster), made));
    const progress = lines.filter((l) => l.msg === 'progress' && l.what === 'stats');
    expect(progress.length, JSON.stringify(lines)).toBeGreaterThan(0);
    expect(progress.every((p) => typeof p.scanned === 'number' && p.scanned <= made.etcd!.revision), JSON.stringify(progress)).toBe(true);
    expect(progress.some((p) => p.scanned! > 0), JSON.stringify(progress)).toBe(true);
  }, 30_000);
});

describe('stats --keys --json', () => {
  let setup: SnapshotFileSetup;
  beforeAll(async () => {
    setup = await etcdWithSnapshotFile('stats-json', { namespaces: 10, podsPerNamespace: 40 });
  });
  afterAll(() => setup?.stop());

  // Before: with --json every key's row was held in an array and printed in one JSON.stringify at the end: memory grew
  // with the keys (a 100k-key snapshot file: 425 MB peak against 257 MB as text; a million keys past V8's longest
  // string), and `| jq` saw nothing until the count was over. Now the keyList streams: the rows counted so far are on
  // stdout when the count first waits for its reader, and the whole is one JSON document as before.
  it('streams the keyList as it counts, and the whole output is still one document with the report', async () => {
    const loaded = loadConfig({ RS_TMP_DIR: setup.tmp });
    if (!loaded.config) throw new Error(loaded.errors.join('; '));
    const parsed = parseArgs(['stats', setup.file, '--keys', '--json']);
    if (parsed.kind === 'help') throw new Error('help');
    let stdout = '';
    let atFirstLook: string | undefined;
    await statsCommand({
      config: loaded.config,
      log: createLogger('silent'),
      args: parsed.invocation.args,
      signal: new AbortController().signal,
      print: (line) => void (stdout += `${line}\n`),
      backlog: () => void (atFirstLook ??= stdout),
    });
    expect(atFirstLook, 'the count never looked at its reader').toBeDefined();
    const rowsSoFar = atFirstLook!.split('\n').filter((l) => l.startsWith('    {"key":'));
    expect(rowsSoFar.length).toBeGreaterThanOrEqual(255);
    const doc = JSON.parse(stdout) as Stats & { keyList: Array<{ key: string }>; source: { kind: string } };
    expect(doc.source.kind).toBe('file');
    expect(doc.keyList.length).toBe(doc.keys);
    expect(doc.keys).toBeGreaterThan(400);
    expect(doc.keyList[0]!.key).toBe(JSON.parse(rowsSoFar[0]!.replace(/,$/, '')).key);
  });
});
