import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { listFiles } from '../helpers/faults.js';

/** Keys that look like paths, or hold NUL bytes, newlines and invalid UTF-8: data to carry, never paths to write. */
const HOSTILE = [
  '/registry/../../etc/passwd',
  '/registry/secrets/../../../../tmp/rs-escape',
  '/registry/secrets/default/..',
  '/registry/configmaps/default/nul\u0000byte',
  '/registry/configmaps/default/new\nline',
  '/registry/configmaps/default/back\\slash',
  `/registry/configmaps/default/${'long-'.repeat(200)}`,
].map((k) => Buffer.from(k));
HOSTILE.push(Buffer.concat([Buffer.from('/registry/configmaps/default/bad-utf8-'), Buffer.from([0xff, 0xfe, 0x00, 0x2f, 0x2e, 0x2e])]));

describe('key names are data, not paths', () => {
  let source: TestEtcd;
  let target: TestEtcd;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rs-keynames-'));
    [source, target] = await Promise.all([startEtcd(), startEtcd()]);
    const client = new Etcd3({ hosts: source.endpoint });
    try {
      for (const [i, key] of HOSTILE.entries()) await client.put(key).value(`value-${i}`);
    } finally {
      client.close();
    }
  });
  afterAll(async () => {
    await Promise.all([source?.stop(), target?.stop()]);
    await rm(dir, { recursive: true, force: true });
  });

  it.each(['snapshot', 'raw', 'render', 'filter:secrets,configmaps'])('%s: only the backup’s own files are written', async (strategy) => {
    const store = join(dir, strategy.replace(/\W/g, '-'));
    const res = await runCli(['backup', '--json'], { RS_ETCD_ENDPOINTS: source.endpoint, RS_BACKUP_DIR: store, RS_BACKUP_STRATEGY: strategy, RS_KUBE_PREFIXES: '/registry' });
    expect(res.stderr).toMatch(/backup completed/);
    expect(res.code).toBe(0);
    const m = JSON.parse(res.stdout.trim().split('\n').pop()!) as { id: string; artifact: string; keys?: number };
    // The filter selects by resource: /registry/../../etc/passwd names no secrets or configmaps resource.
    if (strategy !== 'snapshot') expect(m.keys).toBe(strategy.startsWith('filter') ? HOSTILE.length - 1 : HOSTILE.length);
    expect(await listFiles(dir).then((all) => all.filter((f) => f.startsWith(store.slice(dir.length + 1))))).toEqual(
      [`default/${m.artifact}`, `default/${m.id}.manifest.json`].map((f) => join(store.slice(dir.length + 1), f)).sort(),
    );
    expect((await listFiles(dir)).filter((f) => !/^(snapshot|raw|render|filter-secrets-configmaps)\//.test(f))).toEqual([]);
    expect((await runCli(['verify'], { RS_BACKUP_DIR: store })).code).toBe(0);
  });

  it('a restored key dump gives back the exact key bytes, and writes no file', async () => {
    const store = join(dir, 'raw');
    const before = await listFiles(dir);
    const res = await runCli(['restore', 'latest'], { RS_ETCD_ENDPOINTS: target.endpoint, RS_BACKUP_DIR: store });
    expect(res.stderr).not.toMatch(/this is a bug/);
    expect(res.code, res.stderr).toBe(0);
    const client = new Etcd3({ hosts: target.endpoint });
    try {
      const got = await client.getAll().prefix('/registry').keyBuffers();
      expect(got.map((k) => k.toString('hex')).sort()).toEqual(HOSTILE.map((k) => k.toString('hex')).sort());
    } finally {
      client.close();
    }
    expect(await listFiles(dir)).toEqual(before);
  });
});
