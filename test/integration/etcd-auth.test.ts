import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';

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

  it('says when the user may not take a snapshot', async () => {
    failsWith(await backup({ RS_ETCD_USERNAME: 'reader', RS_ETCD_PASSWORD: PASSWORD }), /lacks permission.*snapshots need the root role/);
  });

  it('continuous backups as a user that may read only the prefixes: the refused watch is waited out, not answered with a full backup after another', async () => {
    // Before: each refusal of the watch (etcd checks the whole span /kubernetes.io../registry) counted as a chain
    // that broke, and was answered at once with a full backup: 36 raw dumps (122 MB) in 8 s, /healthz 200.
    const store = join(dir, 'delta-kube-reader');
    const res = await runCli(
      ['run'],
      { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: store, RS_BACKUP_STRATEGY: 'raw', RS_DELTA_INTERVAL: '1s', RS_HTTP_PORT: '0', RS_ETCD_USERNAME: 'kube-reader', RS_ETCD_PASSWORD: PASSWORD },
      { timeoutMs: 30_000, onStart: (child) => void setTimeout(() => child.kill('SIGTERM'), 6000) },
    );
    const list = await runCli(['list', '--json'], { RS_BACKUP_DIR: store });
    expect((JSON.parse(list.stdout) as Array<{ strategy: string }>).filter((m) => m.strategy === 'raw')).toHaveLength(1);
    expect(res.stderr).toMatch(/"msg":"etcd refuses the watch of changes: continuous backups wait and try again"/);
    expect(res.stderr).toMatch(/the watch of continuous backups needs read access to every key from the first prefix recorded to the last/);
    expect(res.stderr).not.toMatch(/cannot go on without a gap/);
    expect(res.stdout + res.stderr).not.toContain(PASSWORD);
  }, 40_000);
});
