import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { runCli } from '../helpers/cli.js';

/**
 * A `raw` dump reads the Kubernetes prefixes; the keys other programs keep in the same etcd are not in it. k3s keeps
 * its bootstrap data (the cluster's CA, encrypted with its token) under /bootstrap, Calico its IPAM under /calico,
 * flannel its network under /coreos.com (v2): an operator restoring such a dump would lose them without a word. The
 * backup warns, naming them, unless RS_KUBE_PREFIXES names what to dump (a choice), or the strategy selects keys.
 */
let work: string;

interface Outcome {
  manifest: Manifest;
  warning?: { outside?: number; under: string[]; msg: string };
}

async function rawBackup(etcd: TestEtcd, strategy = 'raw', extra: Record<string, string> = {}): Promise<Outcome> {
  const res = await runCli(['backup', '--json', '--strategy', strategy], {
    RS_ETCD_ENDPOINTS: etcd.endpoint,
    RS_BACKUP_DIR: join(work, 'store'),
    ...extra,
  });
  expect(res.code, res.stderr).toBe(0);
  const lines = res.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  const warning = lines.find((l) => typeof l.msg === 'string' && l.msg.includes('outside the Kubernetes prefixes')) as Outcome['warning'];
  return { manifest: JSON.parse(res.stdout) as Manifest, ...(warning && { warning }) };
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'rs-dump-outside-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('v3: keys beyond the Kubernetes prefixes', () => {
  let etcd: TestEtcd;
  beforeAll(async () => {
    etcd = await startEtcd();
    await etcd.ctl(['put', '/registry/namespaces/default', '{"kind":"Namespace"}']);
    // kube-apiserver's own compaction key: outside every prefix, and no reason to warn.
    await etcd.ctl(['put', 'compact_rev_key', '12']);
  });
  afterAll(() => etcd?.stop());

  it('none but compact_rev_key: no warning', async () => {
    const { manifest, warning } = await rawBackup(etcd);
    expect(manifest.keys).toBe(1);
    expect(warning).toBeUndefined();
    const stats = await runCli(['stats'], { RS_ETCD_ENDPOINTS: etcd.endpoint });
    expect(stats.stdout).toContain('keys:     1 ');
    expect(stats.stdout).not.toContain('outside:');
  });

  it('k3s bootstrap data, Calico IPAM and a near miss of /registry: counted, named, and the way out said', async () => {
    await etcd.ctl(['put', '/bootstrap/5d2e5ed35fa8', '{"ServerCA":{}}']);
    await etcd.ctl(['put', '/calico/ipam/v2/assignment/ipv4/block/10.42.0.0-26', '{}']);
    await etcd.ctl(['put', '/calico/resources/v3/projectcalico.org/ippools/default', '{}']);
    await etcd.ctl(['put', '/registryx', 'not under /registry/']);
    const { manifest, warning } = await rawBackup(etcd);
    expect(manifest.keys).toBe(1);
    expect(warning?.outside).toBe(4);
    expect(warning?.under).toEqual(['/bootstrap', '/calico', '/registryx']);
    expect(warning?.msg).toMatch(/etcd holds 4 keys outside the Kubernetes prefixes \(\/kubernetes\.io, \/openshift\.io, \/registry\), under \/bootstrap, \/calico, \/registryx, which this dump leaves out: take a snapshot .*RS_KUBE_PREFIXES \(\/ dumps every key/);
  });

  it('stats of the live etcd says what lies outside, not counted; --json carries it', async () => {
    const env = { RS_ETCD_ENDPOINTS: etcd.endpoint };
    const text = await runCli(['stats'], env);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^keys: {5}1 /m);
    expect(text.stdout).toMatch(/^outside: {2}4 keys under \/bootstrap, \/calico, \/registryx, beyond the Kubernetes prefixes: not counted above, and not in a raw dump/m);
    const json = await runCli(['stats', '--json'], env);
    expect((JSON.parse(json.stdout) as { source: { outside?: unknown } }).source.outside).toEqual({ count: 4, under: ['/bootstrap', '/calico', '/registryx'] });
    // Named prefixes are a choice: nothing said.
    const named = await runCli(['stats', '--json'], { ...env, RS_KUBE_PREFIXES: '/registry' });
    expect((JSON.parse(named.stdout) as { source: { outside?: unknown } }).source.outside).toBeUndefined();
  });

  it('RS_KUBE_PREFIXES named (a choice), / (everything) or a filter: strategy: no warning', async () => {
    expect((await rawBackup(etcd, 'raw', { RS_KUBE_PREFIXES: '/registry' })).warning).toBeUndefined();
    const all = await rawBackup(etcd, 'raw', { RS_KUBE_PREFIXES: '/' });
    expect(all.warning).toBeUndefined();
    expect(all.manifest.keys).toBe(6);
    expect((await rawBackup(etcd, 'filter:namespaces')).warning).toBeUndefined();
  });

  it('a key of any bytes is named as keys are printed, and cut short', async () => {
    const client = new Etcd3({ hosts: etcd.endpoint });
    try {
      await client.put(Buffer.concat([Buffer.from('zz\n'), Buffer.alloc(3000, 0x61)])).value('x');
    } finally {
      client.close();
    }
    const { warning } = await rawBackup(etcd);
    expect(warning?.outside).toBe(5);
    const odd = warning!.under.find((n) => n.startsWith('zz'))!;
    expect(odd).toBe(`zz\\x0a${'a'.repeat(61)}...`);
    expect(warning!.msg).not.toContain('\n');
    expect(warning!.msg.length).toBeLessThan(600);
  });
});

describe('v2: flannel beside Kubernetes', () => {
  let etcd: TestEtcd;
  beforeAll(async () => {
    etcd = await startEtcd({ enableV2: true });
    for (const [key, value] of [
      ['/registry/namespaces/default', '{"kind":"Namespace"}'],
      ['/coreos.com/network/config', '{"Network":"10.1.0.0/16"}'],
    ]) {
      const res = await fetch(`${etcd.endpoint}/v2/keys${key}`, { method: 'PUT', body: new URLSearchParams({ value }) });
      expect(res.status).toBe(201);
    }
  });
  afterAll(() => etcd?.stop());

  it('names the top-level directories outside the prefixes (not counted: that would walk them)', async () => {
    const { manifest, warning } = await rawBackup(etcd, 'raw', { RS_ETCD_API_VERSION: 'v2' });
    expect(manifest.keys).toBe(1);
    expect(warning?.outside).toBeUndefined();
    expect(warning?.under).toEqual(['/coreos.com']);
    expect(warning?.msg).toMatch(/^etcd holds keys outside the Kubernetes prefixes \(.*\), under \/coreos\.com, which this dump leaves out/);
    // A snapshot holds the v3 keyspace only: no way to hold v2 keys (before: 'take a snapshot to hold everything').
    expect(warning?.msg).not.toMatch(/take a snapshot/);
    expect(warning?.msg).toMatch(/set RS_KUBE_PREFIXES to hold them .*a snapshot holds only the v3 keyspace/);
    const stats = await runCli(['stats'], { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_ETCD_API_VERSION: 'v2' });
    expect(stats.stdout).toMatch(/^outside: {2}keys under \/coreos\.com, beyond the Kubernetes prefixes/m);
    expect(stats.stdout).not.toMatch(/a snapshot holds them/);
    expect(stats.stdout).toMatch(/not in a raw dump \(nor in a snapshot, which holds only the v3 keyspace; RS_KUBE_PREFIXES=\/ reads every key\)$/m);
  });
});
