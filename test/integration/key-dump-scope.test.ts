import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { runInProcess } from '../helpers/in-process.js';

/**
 * A raw dump's scope is every Kubernetes prefix it read, those without keys at the time too: a key created later under
 * a prefix that was empty is one the older dump did not hold (added), not one beyond its reach (outside).
 */
let source: TestEtcd;
let work: string;

const env = (extra: Record<string, string> = {}) => ({ RS_ETCD_ENDPOINTS: source.endpoint, RS_BACKUP_DIR: join(work, 'store'), ...extra });

async function backup(strategy: string, extra: Record<string, string> = {}): Promise<Manifest> {
  const res = await runInProcess(['backup', '--json', '--strategy', strategy], env(extra));
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(res.stdout) as Manifest;
}

interface Diff {
  summary: { added: number; removed: number; changed: number; outside: number };
  scope?: string[];
  objects: Array<{ change: string; key: string }>;
}

async function diff(from: Manifest, to: Manifest): Promise<Diff> {
  const res = await runInProcess(['diff', from.id, to.id, '--json'], env());
  expect(res.code, res.stderr).toBe(0);
  return JSON.parse(res.stdout) as Diff;
}

beforeAll(async () => {
  source = await startEtcd();
  work = await mkdtemp(join(tmpdir(), 'rs-dump-scope-'));
  await source.ctl(['put', '/registry/configmaps/default/app', 'v1']);
});

afterAll(async () => {
  await Promise.all([source?.stop(), work && rm(work, { recursive: true, force: true })]);
});

describe('a raw dump taken while a Kubernetes prefix held no keys', () => {
  let before: Manifest;
  let older: Manifest;

  beforeAll(async () => {
    before = await backup('raw');
    // As a dump taken before recorded it: only the prefix that held keys.
    older = await backup('raw', { RS_KUBE_PREFIXES: '/registry' });
    await source.ctl(['put', '/openshift.io/routes/default/web', 'route']);
    await source.ctl(['put', '/kubernetes.io/ingresses/default/web', 'ingress']);
    // Another application's key: beyond every Kubernetes prefix, outside any dump's scope.
    await source.ctl(['put', '/other-app/config', 'x']);
  });

  it('records every prefix it read, the empty ones too', () => {
    expect(before.prefixes).toEqual(['/kubernetes.io', '/openshift.io', '/registry']);
    expect(before.keys).toBe(1);
  });

  it('against a later raw dump: keys created under those prefixes are added, not outside', async () => {
    const d = await diff(before, await backup('raw'));
    expect(d.summary).toMatchObject({ added: 2, removed: 0, changed: 0, outside: 0 });
    expect(d.objects.map((o) => [o.change, o.key])).toEqual([
      ['added', '/kubernetes.io/ingresses/default/web'],
      ['added', '/openshift.io/routes/default/web'],
    ]);
  });

  it('against a later snapshot: added too; only the key beyond every prefix is outside', async () => {
    const d = await diff(before, await backup('snapshot'));
    expect(d.summary).toMatchObject({ added: 2, removed: 0, changed: 0, outside: 1 });
    expect(d.scope).toEqual(['/kubernetes.io', '/openshift.io', '/registry']);
  });

  it('a dump that records only the prefixes that held keys, as older ones do, still counts such keys as outside', async () => {
    expect(older.prefixes).toEqual(['/registry']);
    const d = await diff(older, await backup('raw'));
    expect(d.summary).toMatchObject({ added: 0, removed: 0, changed: 0, outside: 2 });
    expect(d.scope).toEqual(['/registry']);
  });
});
