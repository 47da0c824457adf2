import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { etcdDigests, loadHelmLikeValues } from '../helpers/big-values.js';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const RELEASE = '/registry/secrets/default/sh.helm.release.v1.app.v3';

/**
 * `inspect --keys / --get / --render` of a key dump (`raw`, `filter:`), as of a snapshot: yesterday's Helm release
 * Secret (~1 MB) comes out of last night's dump byte for byte, without a restore. The status stays a snapshot's.
 */
describe('inspect of a key dump', () => {
  let etcd: TestEtcd;
  let dir: string;
  let digests: Map<string, string>;
  let rawId: string;
  let filterId: string;
  let revision: number;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rs-inspect-dump-'));
    etcd = await startEtcd();
    await loadHelmLikeValues(etcd.endpoint, { releases: 3, releaseBytes: 1000 * 1024, configMaps: 20, configMapBytes: 2048 });
    await etcd.ctl(['put', '/registry/pods/shop/web-0', '{"kind":"Pod","apiVersion":"v1","metadata":{"name":"web-0","namespace":"shop"}}']);
    digests = await etcdDigests(etcd.endpoint);
    const take = async (strategy: string) => {
      const res = await runCli(['backup', '--json', '--strategy', strategy], env());
      expect(res.code, res.stderr).toBe(0);
      return (JSON.parse(res.stdout) as { id: string }).id;
    };
    rawId = await take('raw');
    filterId = await take('filter:secrets');
    revision = Number(JSON.parse(await etcd.ctl(['get', '/registry/pods/shop/web-0', '-w', 'json'])).header.revision);
  });
  afterAll(async () => {
    await etcd?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const env = () => ({ RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: join(dir, 'store') });
  const inspect = (args: string[]) => runCli(['inspect', ...args], env());

  it('--get KEY --raw gives the exact bytes of a ~1 MB value, and --get its decoded metadata', async () => {
    for (const id of [rawId, filterId]) {
      const res = await runCli(['inspect', id, '--get', RELEASE, '--raw'], env());
      expect(res.code, res.stderr).toBe(0);
      // stdout is collected as text: compare through the same decoding.
      expect(res.stdout.length).toBeGreaterThan(1000 * 1000);
      expect(sha256(Buffer.from(res.stdout))).toBe(digests.get(RELEASE));
    }
    const meta = await inspect([rawId, '--get', RELEASE]);
    expect(meta.code, meta.stderr).toBe(0);
    const described = JSON.parse(meta.stdout) as { size: number };
    expect(described).toMatchObject({ key: RELEASE, resource: 'secrets', kind: 'Secret', version: 1 });
    expect(described.size).toBeGreaterThan(1000 * 1000);
  });

  it('--keys lists every key of the dump (under --prefix), and --render its audit listing', async () => {
    const all = await inspect([rawId, '--keys', '--json']);
    expect(all.code, all.stderr).toBe(0);
    const keys = (JSON.parse(all.stdout) as { keys: Array<{ key: string }> }).keys.map((k) => k.key);
    expect(keys).toEqual([...digests.keys()].sort());
    // The revision its keys are at, the dump's one (found by an operator pass: it was null without --revision).
    expect(all.stdout.split('\n')[0]).toBe(`{"revision":${revision},"prefix":"","keys":[`);
    const secrets = await inspect(['latest', '--strategy', 'raw', '--keys', '--prefix', '/registry/secrets/']);
    expect(secrets.code, secrets.stderr).toBe(0);
    expect(secrets.stdout.trim().split('\n').slice(1).map((l) => l.split('\t')[0])).toEqual(keys.filter((k) => k.startsWith('/registry/secrets/')));
    expect(secrets.stderr).toContain(` at revision ${revision}"`);
    const render = await inspect([filterId, '--render', '--json']);
    expect(render.code, render.stderr).toBe(0);
    expect(render.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { key: string }).key)).toEqual(keys.filter((k) => k.startsWith('/registry/secrets/')));
  });

  it('`latest` for the key modes is the newest snapshot or key dump; the status stays a snapshot\'s', async () => {
    const keys = await inspect(['latest', '--get', RELEASE]);
    expect(keys.code, keys.stderr).toBe(0);
    const status = await inspect([rawId]);
    expect(status.code).toBe(1);
    expect(status.stderr).toMatch(/is a raw backup \(tar\), not an etcd snapshot: `inspect` shows the status of snapshots; for a key dump use `stats`/);
  });

  it('latest a filter: dump (found by an operator pass): a key of another resource is said to be left out by the filter, not absent from the cluster', async () => {
    // Hourly filter:secrets dumps beside nightly raw dumps: `inspect latest --get <a pod>` read the newest dump and
    // said the pod "is not in backup ...", as if the cluster had no such pod.
    const res = await inspect(['latest', '--get', '/registry/pods/shop/web-0']);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(
      `reshifter: key "/registry/pods/shop/web-0" is not in backup ${filterId}: it is a filter:secrets dump, which holds only those resources, not pods (a snapshot or raw dump holds every key: --strategy snapshot or --strategy raw with latest)\n`,
    );
    expect(res.stderr).toContain('"msg":"latest is a filter: key dump, not every resource"');
    const raw = await inspect(['latest', '--strategy', 'raw', '--get', '/registry/pods/shop/web-0']);
    expect(raw.code, raw.stderr).toBe(0);
    expect(raw.stderr).not.toContain('"level":"warn"');
  });

  it('names what is not there: a key the dump lacks, a revision it does not hold', async () => {
    const missing = await inspect([filterId, '--get', '/registry/pods/shop/web-0']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`key "/registry/pods/shop/web-0" is not in backup ${filterId}`);
    // A secret the filter:secrets dump could hold but does not: no more than that.
    const absent = await inspect([filterId, '--get', '/registry/secrets/shop/gone']);
    expect(absent.stderr).toContain(`key "/registry/secrets/shop/gone" is not in backup ${filterId}\n`);
    const older = await inspect([rawId, '--keys', '--revision', '1']);
    expect(older.code).toBe(1);
    expect(older.stderr).toContain(`backup ${rawId} is a key dump: it holds the keys at revision ${revision} only, not at 1`);
    // `latest` of --keys is the newest snapshot or key dump: name the flag that reads the snapshots' older revisions.
    expect(older.stderr).toContain('; snapshots hold older revisions (with --strategy snapshot, latest is the newest snapshot');
    expect(older.stdout).toBe('');
    const same = await inspect([rawId, '--get', RELEASE, '--revision', String(revision)]);
    expect(same.code, same.stderr).toBe(0);
  });
});
