import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Etcd3 } from 'etcd3';
import { isDeltaManifest } from '../../src/archive/manifest.js';
import type { DeltaEvent } from '../../src/core/delta-event.js';
import { createEtcdClient } from '../../src/etcd/client.js';
import { BackupRepository } from '../../src/store/backup-repository.js';
import { LocalStore } from '../../src/store/local-store.js';
import { killStarted, startRun } from '../helpers/background-run.js';
import { runCli } from '../helpers/cli.js';
import { segmentEvents, segmentsOf } from '../helpers/delta-history.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { freePort } from '../helpers/ports.js';

const PASSWORD = 'Pw-9f3c1e7a-never-print-me';

/** etcd with user/password auth enabled (etcdctl user add root; auth enable). */
describe('etcd with authentication', () => {
  let etcd: TestEtcd;
  let dir: string;
  const root = { ETCDCTL_USER: `root:${PASSWORD}` };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rs-auth-'));
    etcd = await startEtcd();
    for (let i = 0; i < 10; i++) await etcd.ctl(['put', `/registry/configmaps/default/c${i}`, `v${i}`]);
    await etcd.ctl(['user', 'add', `root:${PASSWORD}`]);
    await etcd.ctl(['auth', 'enable']);
    // A user that may read /registry but is not root: enough for a dump, not for a snapshot.
    await etcd.ctl(['role', 'add', 'reader'], root);
    await etcd.ctl(['role', 'grant-permission', 'reader', '--prefix=true', 'read', '/registry/'], root);
    await etcd.ctl(['user', 'add', `reader:${PASSWORD}`], root);
    await etcd.ctl(['user', 'grant-role', 'reader', 'reader'], root);
    // Read access to the three Kubernetes prefixes and nothing else: what a dump with detected prefixes reads.
    await etcd.ctl(['role', 'add', 'kube-reader'], root);
    for (const prefix of ['/registry/', '/kubernetes.io/', '/openshift.io/']) await etcd.ctl(['role', 'grant-permission', 'kube-reader', '--prefix=true', 'read', prefix], root);
    await etcd.ctl(['user', 'add', `kube-reader:${PASSWORD}`], root);
    await etcd.ctl(['user', 'grant-role', 'kube-reader', 'kube-reader'], root);
    await etcd.ctl(['put', '/bootstrap/5d2e5ed35fa8', '{}'], root);
  });
  afterAll(async () => {
    killStarted();
    await etcd?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const backup = (extra: Record<string, string>, args: string[] = []) =>
    runCli(['backup', '--json', ...args], { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: join(dir, 'store'), RS_ETCD_TIMEOUT: '5s', ...extra });
  const failsWith = (res: { code: number | null; stdout: string; stderr: string }, message: RegExp) => {
    expect(res.stderr).toMatch(message);
    expect(res.code).toBe(1);
    expect(res.stderr).not.toMatch(/\n\s+at |this is a bug/);
    expect(res.stdout + res.stderr).not.toContain(PASSWORD);
  };

  // etcd3 1.1.2's maintenance.snapshot() fails under auth ("user name is empty"); the snapshot stream works around it.
  it('takes a snapshot as root', async () => {
    const res = await backup({ RS_ETCD_USERNAME: 'root', RS_ETCD_PASSWORD: PASSWORD });
    expect(res.stderr).toMatch(/backup completed/);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ strategy: 'snapshot', encryption: 'none' });
    const verify = await runCli(['verify'], { RS_BACKUP_DIR: join(dir, 'store') });
    expect(verify.code).toBe(0);
  });

  it('dumps keys as a user with read access', async () => {
    const res = await backup({ RS_ETCD_USERNAME: 'reader', RS_ETCD_PASSWORD: PASSWORD, RS_BACKUP_STRATEGY: 'raw', RS_KUBE_PREFIXES: '/registry' });
    expect(res.stderr).toMatch(/backup completed/);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ strategy: 'raw', keys: 10 });
  });

  it('dumps the detected prefixes as a user that may read only them: the look for keys beyond them is left out', async () => {
    const res = await backup({ RS_ETCD_USERNAME: 'kube-reader', RS_ETCD_PASSWORD: PASSWORD, RS_BACKUP_STRATEGY: 'raw', LOG_LEVEL: 'debug' });
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ strategy: 'raw', keys: 10 });
    expect(res.stderr).toMatch(/"err":"[^"]*permission denied","msg":"could not look for keys outside the Kubernetes prefixes"/);
    // As root the key k3s keeps under /bootstrap is seen, and named.
    const asRoot = await backup({ RS_ETCD_USERNAME: 'root', RS_ETCD_PASSWORD: PASSWORD, RS_BACKUP_STRATEGY: 'raw' });
    expect(asRoot.code, asRoot.stderr).toBe(0);
    expect(asRoot.stderr).toMatch(/etcd holds 1 key outside the Kubernetes prefixes .* under \/bootstrap/);
  });

  it('says when the password is wrong', async () => {
    failsWith(await backup({ RS_ETCD_USERNAME: 'root', RS_ETCD_PASSWORD: `${PASSWORD}-typo` }), /etcd refused the credentials \(check RS_ETCD_USERNAME and RS_ETCD_PASSWORD\)/);
  });

  it("names etcdctl's variables when the credentials came from them (as it names ETCDCTL_CACERT)", async () => {
    // Before: 'check RS_ETCD_USERNAME and RS_ETCD_PASSWORD', variables this shell never set.
    failsWith(await backup({ ETCDCTL_USER: `root:${PASSWORD}-typo` }), /etcd refused the credentials \(check ETCDCTL_USER\)/);
    failsWith(await backup({ ETCDCTL_USER: 'root', ETCDCTL_PASSWORD: `${PASSWORD}-typo` }), /etcd refused the credentials \(check ETCDCTL_USER and ETCDCTL_PASSWORD\)/);
  });

  it('says when the user does not exist', async () => {
    failsWith(await backup({ RS_ETCD_USERNAME: 'nobody', RS_ETCD_PASSWORD: PASSWORD }), /etcd refused the credentials/);
  });

  it('says that etcd wants credentials when none are set', async () => {
    failsWith(await backup({}), /(has authentication enabled|requires authentication and got no user name).*set RS_ETCD_USERNAME and RS_ETCD_PASSWORD/);
  });

  it('etcd down: the error names why it is unreachable, as without credentials', async () => {
    // Before: `etcd is unreachable or went away: null` (each token request on a new gRPC channel, which joined the
    // failed shared connection and knew no cause).
    const res = await runCli(['backup'], {
      RS_ETCD_ENDPOINTS: `http://127.0.0.1:${await freePort()}`, RS_BACKUP_DIR: join(dir, 'store'), RS_ETCD_TIMEOUT: '3s',
      RS_ETCD_USERNAME: 'root', RS_ETCD_PASSWORD: PASSWORD,
    });
    failsWith(res, /reading etcd status failed at http:\/\/127\.0\.0\.1:\d+ \(gave up after \d+ attempts in [\d.]+ s\): etcd is unreachable or went away: connect ECONNREFUSED 127\.0\.0\.1:\d+\n/);
    expect(res.stderr).not.toMatch(/null/);
  });

  it('says when the user may not take a snapshot', async () => {
    failsWith(await backup({ RS_ETCD_USERNAME: 'reader', RS_ETCD_PASSWORD: PASSWORD }), /lacks permission.*snapshots need the root role/);
  });

  it('continuous backups as a user that may read only the prefixes: each prefix is watched on its own, their changes merged in revision order', async () => {
    // Before: etcd checked the one watch of the span /kubernetes.io../registry against the role, refused it, and the
    // recording only waited ('etcd refuses the watch of changes'), unless RS_KUBE_PREFIXES=/registry.
    const store = join(dir, 'delta-kube-reader');
    const admin = new Etcd3({ hosts: etcd.endpoint, auth: { username: 'root', password: PASSWORD } });
    const expected: string[] = [];
    const note = (rev: string, key: string, value: string) => expected.push(`${rev} ${key}=${value}`);
    try {
      await admin.put('/kubernetes.io/leases/kube-system/a').value('0').exec();
      const run = startRun({ RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: store, RS_BACKUP_STRATEGY: 'raw', RS_DELTA_INTERVAL: '1s', RS_HTTP_PORT: '0', RS_ETCD_USERNAME: 'kube-reader', RS_ETCD_PASSWORD: PASSWORD });
      await run.until(/"msg":"watching etcd for changes"/);
      let last = '';
      for (let i = 0; i < 10; i++) {
        note((await admin.put(`/registry/configmaps/default/d${i}`).value(`r${i}`).exec()).header.revision, `/registry/configmaps/default/d${i}`, `r${i}`);
        note((await admin.put(`/kubernetes.io/leases/kube-system/l${i}`).value(`k${i}`).exec()).header.revision, `/kubernetes.io/leases/kube-system/l${i}`, `k${i}`);
        await admin.put(`/bootstrap/${i}`).value('not recorded').exec();
        // One transaction across both prefixes: one revision, its changes from two watchers.
        last = (await admin.if(`/registry/configmaps/default/d${i}`, 'Version', '>', 0).then(admin.put(`/registry/both/${i}`).value(`b${i}`), admin.put(`/kubernetes.io/both/${i}`).value(`b${i}`)).commit()).header.revision;
        note(last, `/registry/both/${i}`, `b${i}`);
        note(last, `/kubernetes.io/both/${i}`, `b${i}`);
      }
      await run.until(new RegExp(`"toRevision":${last},`));
      run.child().kill('SIGTERM');
      const res = await run.done;
      expect(res.code, res.stderr).toBe(0);
      expect(res.stderr).not.toMatch(/refuses the watch|cannot go on without a gap/);
      expect(res.stdout + res.stderr).not.toContain(PASSWORD);

      const repo = new BackupRepository(new LocalStore(store), 'default');
      const backups = (await repo.list()).backups;
      const bases = backups.filter((m) => !isDeltaManifest(m));
      expect(bases).toHaveLength(1);
      expect(bases[0]!.prefixes).toEqual(expect.arrayContaining(['/kubernetes.io', '/registry']));
      const events: DeltaEvent[] = [];
      for (const s of segmentsOf(backups, bases[0]!.id)) events.push(...(await segmentEvents(repo, s)));
      const revisions = events.map((e) => e.modRevision);
      expect(revisions).toEqual([...revisions].sort((a, b) => a - b));
      const got = events.map((e) => `${e.modRevision} ${e.key.toString()}=${e.value.toString()}`);
      expect(got.sort()).toEqual(expected.sort());
    } finally {
      admin.close();
    }
  }, 60_000);
});

/**
 * Credentials set for an etcd whose authentication is disabled (`etcdctl auth disable` during maintenance): etcd
 * refuses to authenticate ("authentication is not enabled"). Before, every command failed with that; etcdctl warns
 * and carries on, and so does reshifter now.
 */
describe('credentials set for an etcd without authentication', () => {
  let etcd: TestEtcd;
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rs-noauth-'));
    etcd = await startEtcd();
    await etcd.ctl(['put', '/registry/configmaps/default/c1', 'v1']);
  });
  afterAll(async () => {
    await etcd?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('backs up, saying once that the credentials go unused', async () => {
    const env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: join(dir, 'store'), RS_ETCD_USERNAME: 'root', RS_ETCD_PASSWORD: PASSWORD };
    for (const strategy of ['snapshot', 'raw']) {
      const res = await runCli(['backup', '--json'], { ...env, RS_BACKUP_STRATEGY: strategy });
      expect(res.code, res.stderr).toBe(0);
      expect(JSON.parse(res.stdout)).toMatchObject({ strategy });
      expect(res.stderr.match(/etcd has authentication disabled: going on without the user of RS_ETCD_USERNAME and RS_ETCD_PASSWORD/g)).toHaveLength(1);
      expect(res.stdout + res.stderr).not.toContain(PASSWORD);
    }
  });

  it('explore says authentication is disabled, not enabled because credentials are set', async () => {
    const res = await runCli(['explore'], { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_ETCD_USERNAME: 'root', RS_ETCD_PASSWORD: PASSWORD });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/auth: +disabled \(username\/password configured\)/);
  });

  it('a client made while authentication is disabled uses the token once it is enabled again, and goes without when disabled', async () => {
    const client = createEtcdClient({ endpoints: [etcd.endpoint], apiVersion: 'v3', timeoutMs: 5000, username: 'root', password: PASSWORD });
    try {
      expect(await client.get('/registry/configmaps/default/c1').string()).toBe('v1');
      await etcd.ctl(['user', 'add', `root:${PASSWORD}`]);
      await etcd.ctl(['auth', 'enable']);
      // Without a token etcd would say "user name is empty"; a key only root may read shows the token is sent.
      await etcd.ctl(['put', '/registry/configmaps/default/c2', 'v2'], { ETCDCTL_USER: `root:${PASSWORD}` });
      // Several calls at once, all without a token: each is made again with it.
      const both = await Promise.all([1, 2, 3].map(() => client.get('/registry/configmaps/default/c2').string()));
      expect(both).toEqual(['v2', 'v2', 'v2']);
      await etcd.ctl(['auth', 'disable'], { ETCDCTL_USER: `root:${PASSWORD}` });
      expect(await client.get('/registry/configmaps/default/c1').string()).toBe('v1');
    } finally {
      client.close();
    }
  });
});
