import { execFile } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startTrap, type Trap } from '../helpers/trap.js';

/**
 * Bad configuration through the built CLI: exit 2 before any work (no connection to etcd or S3, no file written),
 * every bad variable named at once, whether or not it applies to the command.
 */
describe('bad configuration', { concurrent: true }, () => {
  let dir: string;
  let trap: Trap;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rs-badcfg-'));
    await writeFile(join(dir, 'file'), 'x');
    // Stands in for etcd and S3: any connection to it would be work done despite the bad configuration.
    trap = await startTrap();
  });
  afterAll(async () => {
    await trap.close();
    await rm(dir, { recursive: true, force: true });
  });

  const BAD: Record<string, string> = {
    RS_ETCD_CA_CERT: '/nonexistent/ca.pem',
    RS_ETCD_API_VERSION: 'v4',
    RS_ETCD_TIMEOUT: 'soon',
    RS_BACKUP_STRATEGY: 'everything',
    RS_CLUSTER_NAME: '../../etc',
    RS_S3_REGION: 'Mars Base',
    RS_S3_PREFIX: '../x',
    RS_S3_FORCE_PATH_STYLE: 'maybe',
    RS_S3_SSE: 'rot13',
    RS_COMPRESSION: 'brotli',
    RS_COMPRESSION_LEVEL: '20',
    RS_ENCRYPTION_RECIPIENTS: 'age1nope',
    RS_ENCRYPTION_IDENTITY: 'AGE-SECRET-KEY-1TOPSECRETVALUE',
    RS_SCHEDULE: 'every hour',
    RS_RETENTION_KEEP_LAST: 'seven',
    RS_RETENTION_MAX_AGE: '30 days',
    RS_KUBE_PREFIXES: 'registry',
    RS_INCLUDE_NAMESPACES: 'Kube_System',
    RS_HTTP_PORT: '99999',
    RS_PUSHGATEWAY_URL: 'gateway',
    RS_API_TOKEN: 'tiny-secret',
    LOG_LEVEL: 'chatty',
    RS_RETENTION_KEEP_LST: '3',
  };

  it('names every bad variable at once, exit 2, and does nothing', async () => {
    const store = join(dir, 'store');
    const res = await runCli(['backup'], { ...BAD, RS_ETCD_ENDPOINTS: `http://127.0.0.1:${trap.port}`, RS_BACKUP_DIR: store });
    expect(res.code).toBe(2);
    // One JSON line, the event a log pipeline reads (before: only the text below, one problem a line, no level),
    // then the text.
    const [first, ...text] = res.stderr.split('\n');
    const event = JSON.parse(first!) as { level: string; msg: string; command: string; exitCode: number; problems: string[] };
    expect(event).toMatchObject({ level: 'error', msg: 'configuration error', command: 'backup', exitCode: 2 });
    expect(event.problems.map((p) => p.split(' ')[0]).sort()).toEqual(Object.keys(BAD).sort());
    expect(text.join('\n')).toMatch(/^reshifter: configuration error:\n/);
    for (const name of Object.keys(BAD)) expect(res.stderr).toContain(`  - ${name} `);
    expect(res.stderr).not.toMatch(/TOPSECRETVALUE|tiny-secret/);
    expect(res.stdout).toBe('');
    expect(trap.connections).toBe(0);
    await expect(readdir(store)).rejects.toThrow(/ENOENT/);
  });

  // One variable that has nothing to do with the command, set wrong: still exit 2.
  it.each([
    [['list'], { RS_SCHEDULE: 'hourly' }],
    [['verify', 'latest'], { RS_COMPRESSION_LEVEL: '0' }],
    [['prune'], { RS_ETCD_TIMEOUT: 'soon' }],
    [['explore'], { RS_ETCD_CA_CERT: '/nonexistent.pem' }],
    [['explore'], { RS_S3_SSE: 'none' }],
    [['run'], { RS_ENCRYPTION_IDENTITY_FILE: '/nonexistent/key.txt', RS_SCHEDULE: '0 * * * *' }],
    [['restore', 'latest'], { RS_RETENTION_MAX_AGE: 'forever' }],
    [['stats', 'latest'], { RS_BACKUP_DIR: '/dev/null' }],
    [['backup'], { RS_S3_REGION: 'us east' }],
    // Set but empty: not the default endpoint (whatever etcd listens on this host).
    [['backup'], { RS_ETCD_ENDPOINTS: '' }],
  ])('%j with %j: exit 2 naming it', async (args, bad) => {
    const env = { RS_ETCD_ENDPOINTS: `http://127.0.0.1:${trap.port}`, RS_BACKUP_DIR: join(dir, 'other'), RS_HTTP_PORT: '0', ...bad };
    const res = await runCli(args, env);
    expect(res.code).toBe(2);
    for (const name of Object.keys(bad).filter((n) => n !== 'RS_SCHEDULE' || args[0] !== 'run')) expect(res.stderr).toContain(`  - ${name} `);
    expect(trap.connections).toBe(0);
  });

  // What an empty ConfigMap or Secret key leaves: without the refusal `run` would serve HTTP only, never backing up,
  // and its backups would be unencrypted.
  it('refuses variables set but empty, saying so and what to do: exit 2, nothing done', async () => {
    const store = join(dir, 'empty-store');
    const env = { RS_ETCD_ENDPOINTS: `http://127.0.0.1:${trap.port}`, RS_BACKUP_DIR: store, RS_HTTP_PORT: '0', RS_SCHEDULE: '', RS_ENCRYPTION_PASSPHRASE: '' };
    const res = await runCli(['run'], env, { timeoutMs: 20_000 });
    expect(res.code).toBe(2);
    const [first, ...text] = res.stderr.split('\n');
    expect(JSON.parse(first!)).toMatchObject({ msg: 'configuration error', command: 'run', exitCode: 2, problems: [expect.stringMatching(/^RS_ENCRYPTION_PASSPHRASE /), expect.stringMatching(/^RS_SCHEDULE /)] });
    expect(text.join('\n')).toBe(
      'reshifter: configuration error:\n'
        + '  - RS_ENCRYPTION_PASSPHRASE is set but empty: give the passphrase, or unset it to write backups unencrypted (or to RS_ENCRYPTION_RECIPIENTS)\n'
        + '  - RS_SCHEDULE is set but empty: give a cron expression (like 0 */6 * * *), or unset it for run to only serve HTTP, taking no backups\n',
    );
    expect(trap.connections).toBe(0);
    await expect(readdir(store)).rejects.toThrow(/ENOENT/);
  });

  // Before: `backup --strategy snapshots` said `RS_BACKUP_STRATEGY was invalid: "snapshots" ...`, a variable the operator
  // never set, sending them to look for it in the environment. A value a flag gave is now named by the flag typed; a
  // bad variable beside it is still named as the variable.
  it('names a bad value a flag gave by that flag, and a bad variable by the variable: exit 2, nothing done', async () => {
    const env = { RS_ETCD_ENDPOINTS: `http://127.0.0.1:${trap.port}`, RS_BACKUP_DIR: join(dir, 'flags'), RS_S3_PREFIX: '../x' };
    const res = await runCli(['backup', '--strategy', 'snapshots', '--compression', 'zst', '--cluster', 'a/b'], env);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('  - --strategy was invalid: "snapshots" should be one of snapshot, raw, render, filter:<resource>[,<resource>...], checkpoint (did you mean snapshot?)\n');
    expect(res.stderr).toContain('  - --compression was invalid: "zst" should be one of [zstd, gzip, none]\n');
    expect(res.stderr).toContain('  - --cluster was invalid: "a/b" should be 1-63 letters');
    expect(res.stderr).toContain('  - RS_S3_PREFIX was invalid: "../x"');
    expect(res.stderr).not.toMatch(/RS_BACKUP_STRATEGY|RS_COMPRESSION|RS_CLUSTER_NAME/);
    expect(trap.connections).toBe(0);
  });

  // An env file as systemd's EnvironmentFile or docker --env-file reads it: no shell expands ~ or $HOME there. Before,
  // the backup went into a folder named "~" in the working directory (/~/backups under systemd), exit 0.
  it('refuses paths that only a shell would expand (~, $HOME): exit 2, no folder named ~ made', async () => {
    const cwd = join(dir, 'cwd');
    await mkdir(cwd);
    const env = { RS_ETCD_ENDPOINTS: `http://127.0.0.1:${trap.port}`, RS_BACKUP_DIR: '~/backups', RS_ETCD_CA_CERT: '$HOME/pki/ca.crt', RS_TMP_DIR: '${STATE_DIRECTORY}/work' };
    const res = await runCli(['backup'], env, { cwd });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('  - RS_BACKUP_DIR was invalid: "~/backups" starts with "~", which only a shell expands (systemd\'s EnvironmentFile, docker --env-file and a pod\'s env do not): give the full path\n');
    expect(res.stderr).toContain('  - RS_ETCD_CA_CERT was invalid: "$HOME/pki/ca.crt" holds "$HOME", which only a shell expands');
    expect(res.stderr).toContain('  - RS_TMP_DIR was invalid: "${STATE_DIRECTORY}/work" holds "${STATE_DIRECTORY}"');
    expect(await readdir(cwd)).toEqual([]);
    expect(trap.connections).toBe(0);
  });

  // k3s's etcd client key is root's, 0600, under /var/lib/rancher/k3s/server (0700): reshifter run as another user
  // cannot read it. Before, the error was `... "client.key" cannot be read`, with no why and nothing to do.
  it('says why a key file cannot be read (its mode and owner, or the folder in the way) and what to do: exit 2', async () => {
    const root = process.getuid?.() === 0;
    // Root reads any file: the CLI runs as root without the capabilities that let it (DAC override and read search),
    // on files of another owner (it cannot run as another user: a clone in a 0700 folder, as CI's, is closed to it);
    // anyone else is refused a file and a folder of mode 0000.
    const asOther = root ? ['setpriv', '--bounding-set', '-dac_override,-dac_read_search'] : [];
    const uid = process.getuid!();
    const owner = root ? 65534 : uid;
    const tls = join(dir, 'tls');
    const closed = join(dir, 'closed');
    await mkdir(tls);
    await mkdir(closed);
    await chmod(dir, 0o755);
    await chmod(tls, 0o755);
    await writeFile(join(tls, 'client.key'), 'x', { mode: root ? 0o600 : 0o000 });
    await writeFile(join(closed, 'client.key'), 'x', { mode: 0o600 });
    await chmod(closed, root ? 0o700 : 0o000);
    if (root) for (const p of [join(tls, 'client.key'), closed, join(closed, 'client.key')]) await chown(p, owner, owner);
    const explore = async (key: string) => {
      const argv = [...asOther, process.execPath, new URL('../../dist/main.js', import.meta.url).pathname, 'explore'];
      const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', RS_ETCD_ENDPOINTS: `https://127.0.0.1:${trap.port}`, RS_ETCD_CLIENT_CERT: join(dir, 'file'), RS_ETCD_CLIENT_KEY: key };
      return promisify(execFile)(argv[0]!, argv.slice(1), { env, cwd: dir }).then(() => ({ code: 0, stderr: '' }), (e: { code: number; stderr: string }) => e);
    };
    await chmod(join(dir, 'file'), 0o644);
    const file = await explore(join(tls, 'client.key'));
    expect(file.code).toBe(2);
    const fix = `run reshifter as its owner (root for the etcd keys of k3s and kubeadm, which are 0600) or give uid ${uid} read access`;
    expect(file.stderr).toContain(
      `RS_ETCD_CLIENT_KEY was invalid: "${join(tls, 'client.key')}" cannot be read by uid ${uid}: the file is mode ${root ? '0600' : '0000'}, owner uid ${owner}; ${fix}`,
    );
    const folder = await explore(join(closed, 'client.key'));
    expect(folder.code).toBe(2);
    expect(folder.stderr).toContain(`cannot be read by uid ${uid}: the folder ${closed} (mode ${root ? '0700' : '0000'}, owner uid ${owner}) cannot be entered; ${fix}`);
    await chmod(closed, 0o700);
    if (root) await chown(closed, 0, 0);
    expect(trap.connections).toBe(0);
  });

  // An age identity file is the operator's own secret, not a cluster's key: before, its refusal told them to run
  // reshifter as root "for the etcd keys of k3s and kubeadm", which fits neither the file nor what to do.
  it('says what fits an age identity file it cannot read, and a CA file: no etcd-key advice', async () => {
    const root = process.getuid?.() === 0;
    const asOther = root ? ['setpriv', '--bounding-set', '-dac_override,-dac_read_search'] : [];
    const uid = process.getuid!();
    const keys = join(dir, 'age-keys');
    await mkdir(keys);
    await mkdir(join(dir, 'age-store'));
    const identity = join(keys, 'age.txt');
    const ca = join(keys, 's3-ca.crt');
    await writeFile(identity, 'x', { mode: root ? 0o600 : 0o000 });
    await writeFile(ca, 'x', { mode: root ? 0o600 : 0o000 });
    if (root) for (const p of [identity, ca]) await chown(p, 65534, 65534);
    const argv = [...asOther, process.execPath, new URL('../../dist/main.js', import.meta.url).pathname, 'verify', 'latest'];
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', RS_BACKUP_DIR: join(dir, 'age-store'), RS_ENCRYPTION_IDENTITY_FILE: identity };
    const res = await promisify(execFile)(argv[0]!, argv.slice(1), { env, cwd: dir }).then(() => ({ code: 0, stderr: '' }), (e: { code: number; stderr: string }) => e);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(
      `RS_ENCRYPTION_IDENTITY_FILE was invalid: "${identity}" cannot be read by uid ${uid}: the file is mode ${root ? '0600' : '0000'}, owner uid ${root ? 65534 : uid}; ` +
        `make the age identity file readable by the user reshifter runs as (chown it to uid ${uid}, keeping mode 0600: it decrypts every backup), or run reshifter as its owner`,
    );
    expect(res.stderr).not.toContain('etcd keys');
    const withCa = await promisify(execFile)(argv[0]!, [...argv.slice(1, -2), 'list'], {
      env: { PATH: env.PATH, RS_S3_BUCKET: 'b', RS_S3_ENDPOINT: `http://127.0.0.1:${trap.port}`, RS_S3_CA_CERT: ca, ACCESS_KEY_ID: 'a', SECRET_ACCESS_KEY: 'b' },
      cwd: dir,
    }).then(() => ({ code: 0, stderr: '' }), (e: { code: number; stderr: string }) => e);
    expect(withCa.code).toBe(2);
    expect(withCa.stderr).toContain(`RS_S3_CA_CERT was invalid: "${ca}" cannot be read by uid ${uid}: the file is mode ${root ? '0600' : '0000'}, owner uid ${root ? 65534 : uid}; run reshifter as its owner or give uid ${uid} read access`);
    expect(trap.connections).toBe(0);
  });
});
