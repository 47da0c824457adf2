import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { runInProcess } from '../helpers/in-process.js';

/**
 * Keys are arbitrary bytes: every command prints a key so that two keys never print the same, and what it prints
 * is what `inspect --get` takes back. Keys with `..` or empty segments are grouped under `(other)`, not junk labels.
 */
const KEYS: Array<{ key: Buffer; printed: string }> = [
  // Not UTF-8, and a newline: these two printed the same (`/r\uFFFD\n`) before.
  { key: Buffer.from([0x2f, 0x72, 0xff, 0x0a]), printed: '/r\\xff\\x0a' },
  { key: Buffer.from([0x2f, 0x72, 0xfe, 0x0a]), printed: '/r\\xfe\\x0a' },
  { key: Buffer.from('/registry/../../x'), printed: '/registry/../../x' },
  { key: Buffer.from('/registry/configmaps/default/.'), printed: '/registry/configmaps/default/.' },
  { key: Buffer.from('/registry//x'), printed: '/registry//x' },
  // Printable text prints as it is, a lone backslash too; one that looks like an escape is told apart.
  { key: Buffer.from('/registry/configmaps/default/web'), printed: '/registry/configmaps/default/web' },
  { key: Buffer.from('/registry/configmaps/default/back\\slash'), printed: '/registry/configmaps/default/back\\slash' },
  { key: Buffer.from('/registry/configmaps/default/lit\\xff'), printed: '/registry/configmaps/default/lit\\\\xff' },
  { key: Buffer.from('/registry/configmaps/default/ünïcødé'), printed: '/registry/configmaps/default/ünïcødé' },
  { key: Buffer.from('/registry/configmaps/default/tab\there'), printed: '/registry/configmaps/default/tab\\x09here' },
  { key: Buffer.concat([Buffer.from('/registry/secrets/default/bad-'), Buffer.from([0xc3, 0x28, 0x00])]), printed: '/registry/secrets/default/bad-\\xc3(\\x00' },
];
const valueOf = (i: number) => `value-${i}`;

interface KeyRow {
  key: string;
  keyBase64?: string;
  resource: string;
  namespace?: string;
}

let etcd: TestEtcd;
let dir: string;
let snapshot: Manifest;
let raw: Manifest;
const env = () => ({ RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: join(dir, 'store'), RS_KUBE_PREFIXES: '/' });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rs-key-printing-'));
  etcd = await startEtcd();
  const client = new Etcd3({ hosts: etcd.endpoint });
  try {
    for (const [i, { key }] of KEYS.entries()) await client.put(key).value(valueOf(i));
  } finally {
    client.close();
  }
  for (const strategy of ['snapshot', 'raw']) {
    const res = await runCli(['backup', '--json'], { ...env(), RS_BACKUP_STRATEGY: strategy });
    expect(res.code, res.stderr).toBe(0);
    const m = JSON.parse(res.stdout.trim().split('\n').pop()!) as Manifest;
    if (strategy === 'snapshot') snapshot = m;
    else raw = m;
  }
  expect(raw.keys).toBe(KEYS.length);
});

afterAll(async () => {
  await etcd?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe.each([['snapshot', () => snapshot], ['raw key dump', () => raw]])('%s', (_name, backup) => {
  it('inspect --keys prints each key once, escaped where it is not printable UTF-8, and --get takes the printed form back', async () => {
    const res = await runCli(['inspect', backup().id, '--keys'], env());
    expect(res.code, res.stderr).toBe(0);
    const printed = res.stdout.trim().split('\n').slice(1).map((line) => line.split('\t')[0]!);
    expect(res.stdout).not.toContain('\ufffd');
    expect([...printed].sort()).toEqual(KEYS.map((k) => k.printed).sort());
    for (const [i, { printed: p }] of KEYS.entries()) {
      const got = await runInProcess(['inspect', backup().id, '--get', p, '--raw'], env());
      expect(got.code, `${p}: ${got.stderr}`).toBe(0);
      expect(got.stdout, p).toBe(valueOf(i));
    }
    // The same through the built CLI, as an operator pastes it.
    const cli = await runCli(['inspect', backup().id, '--get', '/r\\xff\\x0a', '--raw'], env());
    expect(cli.stdout).toBe(valueOf(0));
    const missing = await runCli(['inspect', backup().id, '--get', '/r\\xfd\\x0a'], env());
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('key "/r\\xfd\\x0a" is not in');
    // --prefix reads escapes as --get does.
    const under = await runInProcess(['inspect', backup().id, '--keys', '--prefix', '/r\\xfe'], env());
    expect(under.stdout.trim().split('\n').slice(1).map((l) => l.split('\t')[0])).toEqual(['/r\\xfe\\x0a']);
  });

  it('--json carries the exact bytes of a key that is not UTF-8 (keyBase64), and the text of one that is', async () => {
    const res = await runInProcess(['inspect', backup().id, '--keys', '--json'], env());
    expect(res.code, res.stderr).toBe(0);
    const rows = (JSON.parse(res.stdout) as { keys: KeyRow[] }).keys;
    expect(rows).toHaveLength(KEYS.length);
    for (const { key, printed } of KEYS) {
      const row = rows.find((r) => (r.keyBase64 !== undefined ? Buffer.from(r.keyBase64, 'base64') : Buffer.from(r.key)).equals(key));
      expect(row, printed).toBeDefined();
      if (key.toString('utf8').includes('\ufffd')) expect(row).toMatchObject({ key: printed, keyBase64: key.toString('base64') });
      else expect(row!.keyBase64).toBeUndefined();
      if (row!.keyBase64 === undefined) expect(row!.key).toBe(key.toString('utf8'));
    }
    const one = JSON.parse((await runInProcess(['inspect', backup().id, '--get', '/r\\xfe\\x0a'], env())).stdout) as KeyRow;
    expect(one).toMatchObject({ key: '/r\\xfe\\x0a', keyBase64: KEYS[1]!.key.toString('base64'), resource: '(other)' });
  });

  it('stats and inspect label keys with `..`, `.` or empty segments (other), with no namespace', async () => {
    const res = await runInProcess(['stats', backup().id, '--json'], env());
    expect(res.code, res.stderr).toBe(0);
    const r = JSON.parse(res.stdout) as { byResource: Record<string, { keys: number }>; byNamespace: Record<string, { keys: number }> };
    // /r\xff\n, /r\xfe\n (outside the layout), /registry/../../x, /registry//x.
    expect(r.byResource['(other)']!.keys).toBe(4);
    // default/. is under configmaps, as other configmaps keys not shaped like an object are.
    expect(r.byResource).toEqual({ configmaps: expect.objectContaining({ keys: 6 }), secrets: expect.objectContaining({ keys: 1 }), '(other)': expect.anything() });
    expect(Object.keys(r.byNamespace).sort()).toEqual(['(none)', 'default']);
    // The four above, default/., and the secret whose name is not UTF-8 (no name of the apiserver's, nor its namespace).
    expect(r.byNamespace['(none)']!.keys).toBe(6);
    expect(r.byNamespace.default!.keys).toBe(5);
    const text = await runInProcess(['stats', backup().id], env());
    expect(text.stdout).not.toMatch(/^\.{2,}/m);
    expect(text.stdout).toMatch(/^\(other\)\s+4\s/m);
    const rows = (JSON.parse((await runInProcess(['inspect', backup().id, '--keys', '--json'], env())).stdout) as { keys: KeyRow[] }).keys;
    expect(rows.find((k) => k.key === '/registry/../../x')).toMatchObject({ resource: '(other)' });
    expect(rows.find((k) => k.key === '/registry/../../x')!.namespace).toBeUndefined();
    expect(rows.find((k) => k.key === '/registry/secrets/default/bad-\\xc3(\\x00')).toMatchObject({ resource: 'secrets' });
    expect(res.stdout).not.toContain('\ufffd');
  });
});

it('render listings, stats --keys and diff print keys the same way', async () => {
  const render = await runInProcess(['inspect', snapshot.id, '--render'], env());
  expect(render.code, render.stderr).toBe(0);
  const keys = render.stdout.trim().split('\n').slice(1).map((l) => l.split('\t')[0]);
  expect(keys).toContain('/r\\xff\\x0a');
  expect(keys).toContain('/registry/secrets/default/bad-\\xc3(\\x00');
  expect(render.stdout).not.toContain('\ufffd');

  const listing = await runCli(['backup', '--json'], { ...env(), RS_BACKUP_STRATEGY: 'render' });
  expect(listing.code, listing.stderr).toBe(0);
  const stats = await runInProcess(['stats', 'latest', '--strategy', 'render', '--keys'], env());
  expect(stats.code, stats.stderr).toBe(0);
  expect(stats.stdout).toMatch(/^\/r\\xfe\\x0a\t/m);
  expect(stats.stdout).not.toContain('\ufffd');

  // A changed value of a key that is not UTF-8: the diff names it in its printed form, its JSON carries the bytes.
  const client = new Etcd3({ hosts: etcd.endpoint });
  try {
    await client.put(KEYS[0]!.key).value('changed');
  } finally {
    client.close();
  }
  const later = await runCli(['backup', '--json'], { ...env(), RS_BACKUP_STRATEGY: 'raw' });
  expect(later.code, later.stderr).toBe(0);
  const laterId = (JSON.parse(later.stdout.trim().split('\n').pop()!) as Manifest).id;
  const diff = await runInProcess(['diff', raw.id, laterId], env());
  expect(diff.code, diff.stderr).toBe(0);
  expect(diff.stdout).toContain('~ /r\\xff\\x0a\n');
  const diffJson = JSON.parse((await runInProcess(['diff', raw.id, laterId, '--json'], env())).stdout) as { objects: KeyRow[] };
  expect(diffJson.objects).toEqual([expect.objectContaining({ key: '/r\\xff\\x0a', keyBase64: KEYS[0]!.key.toString('base64'), resource: '(other)' })]);
});
