import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import type { ClusterSummary } from '../../src/ops/clusters.js';
import type { BackupDiff } from '../../src/ops/diff.js';
import { runCli } from '../helpers/cli.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { startS3, type TestS3 } from '../helpers/s3.js';

/**
 * The built CLI as an operator coming from etcdctl, k3s's etcd-snapshot or Velero uses it: wrong words and typos are
 * errors (exit 2) that say what was meant and never take a backup; help per command; delete; every cluster of a
 * shared store; a copied env file whose paths do not exist here.
 */
let etcd: TestEtcd;
let s3: TestS3;
let work: string;
let store: string;
const prod: Manifest[] = [];

const SMALL_DB = new URL('../unit/snapshot/fixtures/small.db', import.meta.url).pathname;
const env = (cluster = 'prod') => ({ RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: store, RS_CLUSTER_NAME: cluster, RS_COMPRESSION: 'none' });
const s3Env = (cluster: string) => ({ RS_ETCD_ENDPOINTS: etcd.endpoint, ...s3.env, RS_S3_PREFIX: 'fleet', RS_CLUSTER_NAME: cluster, RS_COMPRESSION: 'none' });

async function backup(e: Record<string, string>, ...flags: string[]): Promise<Manifest> {
  const res = await runCli(['backup', '--json', ...flags], e);
  expect(res.code, res.stderr).toBe(0);
  // A render backup prints its listing first: the manifest is the last line.
  return JSON.parse(res.stdout.trim().split('\n').at(-1)!) as Manifest;
}

/** The files of a cluster's folder in the local store. */
const filesOf = async (cluster: string) => (await readdir(join(store, cluster)).catch(() => [] as string[])).sort();

beforeAll(async () => {
  [etcd, s3] = await Promise.all([startEtcd(), startS3()]);
  work = await mkdtemp(join(tmpdir(), 'rs-operator-'));
  store = join(work, 'store');
  await etcd.ctl(['put', '/registry/configmaps/default/a', 'one']);
  // prod: three snapshots and a key dump; staging: one snapshot. The same two clusters on S3.
  for (let i = 0; i < 3; i++) prod.push(await backup(env()));
  prod.push(await backup(env(), '--strategy', 'render'));
  await backup(env('staging'));
  await Promise.all([backup(s3Env('eu-1')), backup(s3Env('us-2'))]);
});

afterAll(async () => {
  await Promise.all([etcd?.stop(), s3?.stop(), work && rm(work, { recursive: true, force: true })]);
});

describe('wrong words', () => {
  it.each([
    [['backup', 'delete'], /delete needs the id of at least one backup/, /usage: reshifter delete <id>/],
    [['backup', 'prune', 'extra'], /unexpected word "extra": prune takes no arguments/, /usage: reshifter prune/],
    [['backup', 'remove', 'x'], /unknown sub-command "backup remove" \(did you mean "backup delete"\?\)/, /usage: reshifter backup/],
    [['backup', 'craete'], /unknown sub-command "backup craete" \(did you mean "backup create"\?\)/, /sub-commands of backup are create, list, delete, prune/],
    [['list', 'extra'], /unexpected word "extra": list takes no arguments/, /usage: reshifter list/],
    [['prune', 'some-id'], /unexpected word "some-id": prune takes no arguments/, /usage: reshifter prune/],
    [['lsit'], /unknown command "lsit" \(did you mean "list"\?\)/, /reshifter help/],
    [['ls'], /unknown command "ls" \(did you mean "list"\?\)/, /reshifter help/],
    [['save'], /unknown command "save" \(did you mean "backup"\?\)/, /reshifter help/],
    // etcdctl's snapshot commands, typed first in a recovery: what to run here instead.
    [['snapshot', 'save', '/tmp/x.db'], /unknown command "snapshot save": etcdctl's "snapshot save" is "reshifter backup" here/, /reshifter help/],
    [['snapshot', 'restore', 'x.db', '--data-dir', '/var/lib/etcd'], /unknown command "snapshot restore": etcdctl's "snapshot restore" is "reshifter restore <id>\|latest --data-dir DIR/, /reshifter help/],
    [['snapshot', 'status', 'x.db'], /unknown command "snapshot status": etcdctl's "snapshot status" is "reshifter inspect <id>\|latest\|<file>" here/, /reshifter help/],
    // k3s's etcd-snapshot sub-commands (found by a k3s operator pass: before, `unknown command "etcd-snapshot"` alone).
    [['etcd-snapshot', 'save', '--name', 'pre-upgrade'], /unknown command "etcd-snapshot save": k3s's "etcd-snapshot save" is "reshifter backup" here/, /reshifter help/],
    [['etcd-snapshot', 'ls'], /unknown command "etcd-snapshot ls": k3s's "etcd-snapshot ls" is "reshifter list" here/, /reshifter help/],
    [['etcd-snapshot', 'delete', 'on-demand-node1-1733550000'], /unknown command "etcd-snapshot delete": k3s's "etcd-snapshot delete" is "reshifter delete <id>\.\.\." here/, /reshifter help/],
    [['etcd-snapshot', 'prune', '--snapshot-retention', '5'], /unknown command "etcd-snapshot prune": k3s's "etcd-snapshot prune" is "reshifter prune" here \(retention: RS_RETENTION_\*\)/, /reshifter help/],
    [['etcd-snapshot'], /unknown command "etcd-snapshot": .*"reshifter restore <id>\|latest --snapshot-file FILE" writes the file "k3s server --cluster-reset --cluster-reset-restore-path=FILE" restores/, /reshifter help/],
    [['endpoint', 'status', '-w', 'table'], /unknown command "endpoint status": etcdctl's "endpoint status" is "reshifter explore" here/, /reshifter help/],
    [['endpoint', 'health'], /unknown command "endpoint health": etcdctl's "endpoint health" is "reshifter explore" here/, /reshifter help/],
    [['member', 'list'], /unknown command "member list": etcdctl's "member list" is "reshifter explore" here/, /reshifter help/],
    [['list', '-w', 'json'], /^ {2}- unknown option -w for "list": the JSON output of etcdctl's -w json \(kubectl's -o json\) is --json here$/m, /usage: reshifter list/],
    [['inspect', 'latest', '-o', 'json'], /^ {2}- unknown option -o for "inspect": .* is --json here$/m, /usage: reshifter inspect/],
    [['list', '--jsno'], /unknown option --jsno for "list" \(did you mean --json\?\)/, /usage: reshifter list/],
    [['verify', '--dry-run'], /unknown option --dry-run for "verify" \(it is an option of delete, prune, restore\)/, /usage: reshifter verify/],
    [['verify', 'a', 'b'], /unexpected word "b": verify takes one argument/, /usage: reshifter verify/],
    [['restore'], /restore needs the id of a backup/, /usage: reshifter restore/],
    [['diff', 'latest'], /diff needs two backup ids/, /usage: reshifter diff <from> <to>/],
    [['inspect'], /inspect needs a snapshot file or a backup id/, /usage: reshifter inspect/],
    [['version', '--endpoints', 'http://x:2379'], /unknown option --endpoints for "version"/, /usage: reshifter version/],
    // The flag's file is its value, not a word of the command line (an argument, a sub-command) to refuse as well.
    [['explore', '--cacert', '/etc/kubernetes/pki/etcd/ca.crt'], /^ {2}- unknown option --cacert for "explore": etcdctl's --cacert is the variable RS_ETCD_CA_CERT \(or ETCDCTL_CACERT\) here\n(?! {2}- )/m, /usage: reshifter explore/],
    [['backup', '--cacert', '/etc/kubernetes/pki/etcd/ca.crt', '--cert', 'c.crt', '--key', 'c.key'], /^ {2}- unknown option --cacert for "backup": etcdctl's --cacert is the variable RS_ETCD_CA_CERT \(or ETCDCTL_CACERT\) here\n {2}- unknown option --cert for "backup": .*RS_ETCD_CLIENT_CERT.*\n {2}- unknown option --key for "backup": .*RS_ETCD_CLIENT_KEY.*\n(?! {2}- )/m, /usage: reshifter backup/],
    [['backup', '--dial-timeout', '5s'], /^ {2}- unknown option --dial-timeout for "backup": etcdctl's --dial-timeout is the variable RS_ETCD_TIMEOUT here\n(?! {2}- )/m, /usage: reshifter backup/],
    // Settings given as flags, as other backup tools take them: the variable, and the flag's value taken as its own.
    [['prune', '--keep-last', '3'], /^ {2}- unknown option --keep-last for "prune": settings are variables here: RS_RETENTION_KEEP_LAST\n(?! {2}- )/m, /usage: reshifter prune/],
    [['restore', '--timeout', '5s', 'latest'], /^ {2}- unknown option --timeout for "restore": settings are variables here: RS_ETCD_TIMEOUT or RS_S3_REQUEST_TIMEOUT/m, /usage: reshifter restore/],
    [['list', '--all'], /unknown option --all for "list" \(did you mean --all-clusters\?\)/, /usage: reshifter list/],
    [['-x'], /^ {2}- options come after a command: -x$/m, /reshifter help/],
    // The Go Reshifter's rcli (this tool's alias), as its README and operators' scripts call it (found by an operator pass).
    [['backup', 'create', '-e', 'http://localhost:4001', '-r', 'play.minio.io:9000', '-b', 'mh9-test'], /^ {2}- unknown option -e for "backup": Reshifter's -e \(--endpoint\) is --endpoints URLS here \(RS_ETCD_ENDPOINTS\)\n {2}- unknown option -r for "backup": Reshifter's -r \(--remote\) is the variable RS_S3_ENDPOINT here, with its scheme \(http:\/\/play.minio.io:9000\)\n {2}- unknown option -b for "backup": Reshifter's -b \(--bucket\) is --s3-bucket BUCKET here \(RS_S3_BUCKET\)\n(?! {2}- unexpected)/m, /usage: reshifter backup/],
    [['restore', '-i', '1498815551'], /unknown option -i for "restore": Reshifter's -i \(--backupid\) is the argument here: restore <id>/, /usage: reshifter restore/],
    [['stats', '--remote', 'minio:9000'], /unknown option --remote for "stats": Reshifter's -r \(--remote\) is the variable RS_S3_ENDPOINT here, with its scheme \(http:\/\/minio:9000\)/, /usage: reshifter stats/],
  ])('%j: exit 2, the problem, the usage; no backup taken', async (args, problem, usage) => {
    const before = await filesOf('prod');
    const res = await runCli(args, env());
    expect(res.code, res.stderr).toBe(2);
    expect(res.stderr).toMatch(/^reshifter: usage error:\n/);
    expect(res.stderr).toMatch(problem);
    expect(res.stderr).toMatch(usage);
    expect(res.stdout).toBe('');
    expect(await filesOf('prod')).toEqual(before);
  });

  it('names every wrong word of one command line at once', async () => {
    const res = await runCli(['list', 'extra', '--jsno', '--all-cluster'], env());
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('unknown option --jsno for "list" (did you mean --json?)');
    expect(res.stderr).toContain('unknown option --all-cluster for "list" (did you mean --all-clusters?)');
    expect(res.stderr).toContain('unexpected word "extra"');
  });

  it('`backup create` and `backup list` are backup and list', async () => {
    const listed = await runCli(['backup', 'list', '--json'], env());
    expect(listed.code, listed.stderr).toBe(0);
    expect((JSON.parse(listed.stdout) as Manifest[]).map((m) => m.id)).toEqual((JSON.parse((await runCli(['list', '--json'], env())).stdout) as Manifest[]).map((m) => m.id));
    const created = await runCli(['backup', 'create', '--json'], env('scratch'));
    expect(created.code, created.stderr).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({ cluster: 'scratch', strategy: 'snapshot' });
  });
});

describe('help', () => {
  it('`delete --help` and `help delete` print the usage, the options and the variables the command reads', async () => {
    const [a, b, c] = await Promise.all([runCli(['delete', '--help'], {}), runCli(['help', 'delete'], {}), runCli(['backup', 'delete', '--help'], {})]);
    expect(a.code).toBe(0);
    expect(b.stdout).toBe(a.stdout);
    expect(c.stdout).toBe(a.stdout);
    expect(a.stdout).toMatch(/^usage: reshifter delete <id>\.\.\. \[--dry-run\] \[--force\] \[--json\]\n {3}or: reshifter backup delete <id>/);
    for (const text of ['--dry-run', '--force', '--backup-dir DIR', 'RS_CLUSTER_NAME', 'RS_S3_BUCKET', 'LOG_LEVEL']) expect(a.stdout).toContain(text);
    // delete reads no etcd: its help names no etcd variable, and it takes no --endpoints.
    expect(a.stdout).not.toMatch(/RS_ETCD_|ETCDCTL_|--endpoints/);
  });

  it('`backup --help` names the etcd variables and the sub-commands; an unknown command has no help', async () => {
    const res = await runCli(['help', 'backup'], {});
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('RS_ETCD_CA_CERT');
    // and etcdctl's, read where they are unset
    expect(res.stdout).toMatch(/\(where\s+unset:\s+etcdctl's\s+ETCDCTL_ENDPOINTS,\s+ETCDCTL_CACERT,/);
    expect(res.stdout).toContain('backup delete (= delete)');
    const bad = await runCli(['help', 'restroe'], {});
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('unknown command "restroe" (did you mean "restore"?)');
  });
  it('`restore --help` says that --data-dir alone makes a one-member cluster, and that each member needs --initial-cluster', async () => {
    // Before, only a warning after the restore said so (core/source-members-warning.ts): too late for a runbook.
    const res = await runCli(['restore', '--help'], {});
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/several members restored with --data-dir alone becomes a new cluster of one member/);
    expect(res.stdout).toMatch(/restore it once per member, each with its own --name and --initial-advertise-peer-urls and the same\s+--initial-cluster/);
  });
  it('`verify FILE --help` lists every variable that decrypts under "decryption (reading)", the passphrase too', async () => {
    // Before, the passphrase was listed under "encryption (writing)" only: an operator reading a backup looked there last.
    const res = await runCli(['verify', SMALL_DB, '--help'], {});
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/decryption \(reading\)\s+RS_ENCRYPTION_IDENTITY_FILE, RS_ENCRYPTION_IDENTITY,\s+RS_ENCRYPTION_PASSPHRASE\n/);
  });
});

describe('a copied env file whose files are not on this machine', () => {
  const copied = () => ({
    ...env(),
    RS_ETCD_ENDPOINTS: 'https://10.0.0.5:2379',
    RS_ETCD_CA_CERT: '/etc/kubernetes/pki/etcd/ca.crt',
    RS_ETCD_CLIENT_CERT: '/etc/kubernetes/pki/etcd/healthcheck-client.crt',
    RS_ETCD_CLIENT_KEY: '/etc/kubernetes/pki/etcd/healthcheck-client.key',
    RS_ENCRYPTION_IDENTITY_FILE: '/keys/age.txt',
  });

  it('still runs list, inspect <file> and version', async () => {
    const [list, inspect, version] = await Promise.all([runCli(['list'], copied()), runCli(['inspect', SMALL_DB], copied()), runCli(['version'], copied())]);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toContain(prod[0]!.id);
    expect(inspect.code, inspect.stderr).toBe(0);
    expect(inspect.stdout).toContain('total keys: 132');
    expect(version.code, version.stderr).toBe(0);
  });

  it('stops the commands that need the files, naming each missing one at once', async () => {
    const res = await runCli(['backup'], copied());
    expect(res.code).toBe(2);
    for (const v of ['RS_ETCD_CA_CERT', 'RS_ETCD_CLIENT_CERT', 'RS_ETCD_CLIENT_KEY']) expect(res.stderr).toContain(`${v} was invalid: "/`);
    const verify = await runCli(['verify', 'latest'], copied());
    expect(verify.code).toBe(2);
    expect(verify.stderr).toContain('RS_ENCRYPTION_IDENTITY_FILE was invalid: "/keys/age.txt" does not exist');
    expect(verify.stderr).not.toContain('RS_ETCD_CA_CERT');
  });

  it('still checks the syntax of every variable, for every command', async () => {
    const res = await runCli(['list'], { ...copied(), RS_SCHEDULE: 'hourly', RS_ETCD_TIMEOUT: 'soon' });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('RS_SCHEDULE was invalid');
    expect(res.stderr).toContain('RS_ETCD_TIMEOUT was invalid');
  });
});

describe('unknown ids', () => {
  it('verify of an unknown id exits 1 naming the ids nearby', async () => {
    const typo = `${prod[1]!.id.slice(0, -1)}${prod[1]!.id.endsWith('0') ? '1' : '0'}`;
    const res = await runCli(['verify', typo], env());
    expect(res.code).toBe(1);
    expect(res.stderr).toContain(`no backup "${typo}" of cluster "prod"`);
    expect(res.stderr).toMatch(/did you mean .+\?|the nearest by time: /);
    expect(res.stderr).toContain(prod[1]!.id);
  });

  it('a file name of the store that is no file here is a usage error (exit 2) naming the id; a snapshot file here is read as one', async () => {
    const res = await runCli(['stats', `${prod[0]!.id}.manifest.json`], env());
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(`it names a file of backup ${prod[0]!.id}; give that id`);
    // A path that is a file is a snapshot file (etcdctl's, k3s's, an artifact copied out of the store), for verify as
    // for stats, restore --keys, diff and inspect.
    for (const path of [SMALL_DB, join(store, 'prod', prod[0]!.artifact)]) {
      const file = await runCli(['verify', path], env());
      expect(file.code, file.stderr).toBe(0);
      expect(file.stdout).toContain(`snapshot file ${path}\nok  \tsnapshot meta page 0`);
    }
    // restore takes a snapshot file with --keys; into a data directory it names etcd's own tool, and writes nothing.
    const dataDir = await runCli(['restore', SMALL_DB, '--data-dir', join(work, 'never')], env());
    expect(dataDir.code).toBe(2);
    expect(dataDir.stderr).toContain(`"reshifter restore ${SMALL_DB} --keys" writes the live keys of a snapshot file`);
    // The tool installed here: etcdutl, or etcdctl 3.4/3.5 (Debian's etcd has no etcdutl).
    expect(dataDir.stderr).toMatch(/"(etcdutl|etcdctl) snapshot restore \S+small\.db --data-dir \S+never"/);
    expect(await readdir(work)).not.toContain('never');
    const gone = await runCli(['inspect', join(work, 'no-such.db')], env());
    expect(gone.code).toBe(2);
    expect(gone.stderr).toContain(`"${join(work, 'no-such.db')}" is not a backup id (like 20261122T030710.123Z-a1b2c3, or "latest"), nor a file here (no such file)`);
  });

  // What can never be an id: a word, paths, `..`, the empty word; the second id of diff too.
  const MALFORMED: Array<[string[], string, RegExp]> = [
    [['restore', 'garbage'], 'garbage', /usage: reshifter restore/],
    [['restore', '../../etc/x'], '../../etc/x', /nor a file here/],
    [['verify', '..'], '..', /it is a folder on this machine/],
    [['verify', ''], '', /usage: reshifter verify/],
    [['inspect', `${'x'.repeat(27)}/..`], `${'x'.repeat(27)}/..`, /usage: reshifter inspect/],
    [['stats', 'prod/latest'], 'prod/latest', /usage: reshifter stats/],
    [['diff', 'latest', 'a\\b'], 'a\\b', /usage: reshifter diff/],
    [['diff', '', 'latest'], '', /usage: reshifter diff/],
    [['delete', '../prod'], '../prod', /usage: reshifter delete/],
    [['delete', 'PROD-1'], 'PROD-1', /usage: reshifter delete/],
  ];
  it.each(MALFORMED)('%j: a usage error (exit 2) naming the bad id; nothing read or deleted', async (args, bad, hint) => {
    const before = await filesOf('prod');
    const res = await runCli(args, env());
    expect(res.code, res.stderr).toBe(2);
    expect(res.stderr).toMatch(/^reshifter: usage error:\n/);
    expect(res.stderr).toContain(`  - "${bad}" is not a backup id (like 20261122T030710.123Z-a1b2c3`);
    expect(res.stderr).toMatch(hint);
    expect(res.stdout).toBe('');
    expect(await filesOf('prod')).toEqual(before);
  });

  it('delete names every malformed id at once, and deletes none of the good ones given with them', async () => {
    const res = await runCli(['delete', '--force', prod[0]!.id, 'latest-but-one', '../x'], env());
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('"latest-but-one" is not a backup id (like 20261122T030710.123Z-a1b2c3)\n');
    expect(res.stderr).toContain('"../x" is not a backup id');
    expect(await filesOf('prod')).toContain(`${prod[0]!.id}.manifest.json`);
  });

  it.each([['restore'], ['inspect'], ['stats'], ['delete'], ['diff', 'latest']])(
    'a well-formed id the store does not hold: %s exits 1 saying what was looked for and where',
    async (...cmd) => {
      const absent = '20000101T000000.000Z-0a0b0c';
      const res = await runCli([...cmd, absent], env());
      expect(res.code, res.stderr).toBe(1);
      expect(res.stderr).toContain(`no backup "${absent}" of cluster "prod" in ${store}`);
    },
  );
});

describe('RS_DELTA_INTERVAL', () => {
  // Before: a CronJob with RS_DELTA_INTERVAL set took its full backups, exit 0, and no word that nothing in between
  // was recorded; `backup --help` even lists the variable.
  it('on a one-off backup warns that only run records the changes after it, and backs up as usual', async () => {
    const res = await runCli(['backup'], { ...env('delta-cronjob'), RS_DELTA_INTERVAL: '2s' });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toMatch(/"deltaIntervalMs":2000,.*"msg":"RS_DELTA_INTERVAL is set, but a one-off backup records no changes after it: only \\"reshifter run\\" does \(a Deployment or a long-running service, not a CronJob or a timer\)"/);
    expect((await filesOf('delta-cronjob')).filter((f) => f.endsWith('.manifest.json'))).toHaveLength(1);
  });
});

describe('--backup-dir', () => {
  it('wins over a bucket in the environment: the command reads and writes that folder, never the bucket', async () => {
    const bucketEnv = s3Env('prod');
    const listed = await runCli(['list', '--json', '--backup-dir', store], bucketEnv);
    expect(listed.code, listed.stderr).toBe(0);
    expect((JSON.parse(listed.stdout) as Manifest[]).map((m) => m.id)).toEqual(expect.arrayContaining(prod.map((m) => m.id)));
    const folder = join(work, 'flag-folder');
    const made = await runCli(['backup', '--json', '--backup-dir', folder], bucketEnv);
    expect(made.code, made.stderr).toBe(0);
    const m = JSON.parse(made.stdout) as Manifest;
    expect(await readdir(join(folder, 'prod'))).toContain(`${m.id}.manifest.json`);
    const inBucket = await runCli(['list', '--json'], bucketEnv);
    expect((JSON.parse(inBucket.stdout) as Manifest[]).map((b) => b.id)).not.toContain(m.id);
  });
});

describe('delete', () => {
  it('refuses the newest of a series, an unknown id and "latest", deleting nothing', async () => {
    const before = await filesOf('prod');
    const newest = await runCli(['delete', prod[0]!.id, prod[2]!.id], env());
    expect(newest.code).toBe(1);
    expect(newest.stderr).toContain(`backup ${prod[2]!.id} is the newest of series "snapshot"`);
    expect(newest.stderr).toContain('--force');
    const unknown = await runCli(['delete', prod[0]!.id, '20200101T000000.000Z-0a0b0c'], env());
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no backup "20200101T000000.000Z-0a0b0c" of cluster "prod"');
    const latest = await runCli(['delete', 'latest'], env());
    expect(latest.code).toBe(2);
    expect(await filesOf('prod')).toEqual(before);
  });

  it('--dry-run says what would go and deletes nothing; then delete removes manifest and artifact', async () => {
    const before = await filesOf('prod');
    const dry = await runCli(['delete', prod[0]!.id, '--dry-run'], env());
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain(`would delete\t${prod[0]!.id}\tsnapshot`);
    expect(dry.stdout).toContain('nothing was deleted');
    expect(await filesOf('prod')).toEqual(before);

    const res = await runCli(['backup', 'delete', prod[0]!.id, prod[1]!.id, '--json'], env());
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ dryRun: false, deleted: [{ id: prod[0]!.id }, { id: prod[1]!.id }] });
    const left = await filesOf('prod');
    for (const m of prod.slice(0, 2)) expect(left.filter((f) => f.startsWith(m.id))).toEqual([]);
    expect(left.filter((f) => f.startsWith(prod[2]!.id))).toHaveLength(2);
  });

  it('--force deletes the newest of a series', async () => {
    const res = await runCli(['delete', prod[3]!.id, '--force'], env());
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain(`deleted\t${prod[3]!.id}\trender`);
    expect((await filesOf('prod')).filter((f) => f.startsWith(prod[3]!.id))).toEqual([]);
  });
});

describe('list --all-clusters', () => {
  it('lists every cluster of a local store with its newest backup and age; the configured one marked', async () => {
    const res = await runCli(['list', '--all-clusters'], env('staging'));
    expect(res.code, res.stderr).toBe(0);
    const lines = res.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ CLUSTER\s+NEWEST\s+CREATED\s+STRATEGY\s+BACKUPS\s+AGE$/);
    expect(lines.slice(1).map((l) => l.trim().split(/\s+/)[0])).toEqual(expect.arrayContaining(['prod', '*staging']));
    // The deletes above left prod with its third snapshot only.
    expect(lines.find((l) => l.startsWith(' prod'))).toMatch(new RegExp(`^ prod\\s+${prod[2]!.id}\\s+\\S+\\s+snapshot\\s+1\\s+\\d+[smhd]$`));
    const json = JSON.parse((await runCli(['list', '--all-clusters', '--json'], env('staging'))).stdout) as ClusterSummary[];
    const staging = json.find((c) => c.cluster === 'staging')!;
    expect(staging).toMatchObject({ backups: 1, current: true, newest: { strategy: 'snapshot' } });
    expect(staging.ageSeconds).toBeGreaterThanOrEqual(0);
    expect(json.find((c) => c.cluster === 'prod')).toMatchObject({ current: false, newest: { id: prod[2]!.id } });
  });

  it('lists the clusters of an S3 prefix shared by a fleet', async () => {
    const res = await runCli(['list', '--all-clusters', '--json'], s3Env('eu-1'));
    expect(res.code, res.stderr).toBe(0);
    const clusters = JSON.parse(res.stdout) as ClusterSummary[];
    expect(clusters.map((c) => [c.cluster, c.backups, c.current])).toEqual([
      ['eu-1', 1, true],
      ['us-2', 1, false],
    ]);
  });

  it('does not go with --strategy', async () => {
    const res = await runCli(['list', '--all-clusters', '--strategy', 'snapshot'], env());
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('does not go with --all-clusters');
  });
});

describe('path flags given with =~', () => {
  // bash expands ~ only at the start of a word: `--data-dir=~/restored` reaches reshifter as it is, and etcdctl made
  // a folder named "~" in the working directory, exit 0; `--image-archive=~/x.tar` wrote the image there alike, and
  // `--backup-dir=~/bk` was refused in the words of an env file (RS_BACKUP_DIR, systemd), not of the flag typed.
  it.each([
    ['data-dir', ['restore', 'latest', '--data-dir=~/restored'], '~/restored'],
    ['image-archive', ['restore', 'latest', '--image-archive=~/web.tar'], '~/web.tar'],
    ['backup-dir', ['list', '--backup-dir=~/bk'], '~/bk'],
  ])('--%s=~/x (which no shell expands) is refused before anything is read: exit 2, no folder named ~', async (flag, args, value) => {
    const cwd = join(work, `tilde-${flag}`);
    await mkdir(cwd);
    const res = await runCli(args, env(), { cwd });
    expect(res.stderr).toContain(`--${flag} "${value}" starts with "~", which the shell left as it is (it expands ~ only at the start of a word): give --${flag} ${value} with a space, or the full path`);
    expect(res.code).toBe(2);
    expect(await readdir(cwd)).toEqual([]);
  });
});

describe('diff', () => {
  it('notes that a filter: backup holds other resources than the backup it is compared with', async () => {
    const filtered = await backup(env('diffs'), '--strategy', 'filter:configmaps');
    const snap = await backup(env('diffs'));
    const res = await runCli(['diff', snap.id, filtered.id], env('diffs'));
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain(`note: ${snap.id} (snapshot) and ${filtered.id} (filter:configmaps) hold different keys (${filtered.id} holds only the resources and namespaces its filters selected)`);
    const same = await runCli(['diff', snap.id, snap.id], env('diffs'));
    expect(same.stdout).not.toContain('note:');
    // A key that would fake a line and drive the terminal is printed escaped.
    await etcd.ctl(['put', '/registry/configmaps/default/evil\nFAKE\tLINE\u001b[31mRED', '{}']);
    const later = await backup(env('diffs'));
    const evil = await runCli(['diff', snap.id, later.id], env('diffs'));
    expect(evil.stdout).toContain('+ /registry/configmaps/default/evil\\x0aFAKE\\x09LINE\\x1b[31mRED');
    expect(evil.stdout).not.toContain('\u001b');
  });

  it('a filtered key dump against a whole one compares only what both can hold: the rest is outside, never removed', async () => {
    // Before, the daily raw dump against the hourly filter:secrets counted every pod and deployment as removed.
    const e = env('filters');
    await etcd.ctl(['put', '/registry/secrets/default/s1', 'v1']);
    await etcd.ctl(['put', '/registry/pods/default/p1', 'pod']);
    await etcd.ctl(['put', '/registry/deployments/default/d1', 'deploy']);
    await etcd.ctl(['put', '/registry/secrets/other/s9', 'nine']);
    const raw = await backup(e, '--strategy', 'raw');
    await etcd.ctl(['put', '/registry/secrets/default/s1', 'v2']);
    await etcd.ctl(['put', '/registry/secrets/default/s2', 'new']);
    await etcd.ctl(['del', '/registry/pods/default/p1']);
    const secrets = await backup(e, '--strategy', 'filter:secrets');
    const res = await runCli(['diff', raw.id, secrets.id, '--json'], e);
    expect(res.code, res.stderr).toBe(0);
    const d = JSON.parse(res.stdout) as BackupDiff;
    expect(d.summary).toMatchObject({ added: 1, removed: 0, changed: 1 });
    expect(d.summary.outside).toBeGreaterThanOrEqual(3);
    expect(d.filtered).toEqual([secrets.id]);
    expect(d.groups).toEqual([{ resource: 'secrets', namespace: 'default', added: 1, removed: 0, changed: 1 }]);
    const text = await runCli(['diff', raw.id, secrets.id], e);
    expect(text.stdout).toMatch(new RegExp(`^1 added, 0 removed, 1 changed, 1 unchanged from ${raw.id} to ${secrets.id}$`, 'm'));
    expect(text.stdout).toContain(`(${secrets.id} holds only the resources and namespaces its filters selected): only the keys both can hold under`);
    // A namespace filter too: the other namespace's secret is outside, not removed.
    const inDefault = await backup({ ...e, RS_INCLUDE_NAMESPACES: 'default' }, '--strategy', 'raw');
    const ns = JSON.parse((await runCli(['diff', raw.id, inDefault.id, '--json'], e)).stdout) as BackupDiff;
    expect(ns.summary).toMatchObject({ added: 1, removed: 1, changed: 1 });
    expect(ns.groups.map((g) => `${g.resource}/${g.namespace ?? '-'}`)).toEqual(['pods/default', 'secrets/default']);
  });

  it('a raw key dump against a snapshot compares the Kubernetes keys only; the keys beyond them are counted apart, with a note', async () => {
    // Another application's keys in the same etcd: a snapshot holds them, a raw dump (of the Kubernetes prefixes) does not.
    await etcd.ctl(['put', '/calico/ipam/v2/block', 'a']);
    await etcd.ctl(['put', '/someapp/config', 'one']);
    const raw = await backup(env('mixed'), '--strategy', 'raw');
    await etcd.ctl(['put', '/registry/configmaps/default/mixed', 'new']);
    await etcd.ctl(['put', '/someapp/config', 'two']);
    await etcd.ctl(['put', '/someapp/other', 'x']);
    const snap = await backup(env('mixed'));
    const res = await runCli(['diff', raw.id, snap.id], env('mixed'));
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain('+ /registry/configmaps/default/mixed\n');
    expect(res.stdout).toMatch(new RegExp(`^1 added, 0 removed, 0 changed, \\d+ unchanged from ${raw.id} to ${snap.id}$`, 'm'));
    expect(res.stdout).not.toMatch(/\(other\)|\/someapp|\/calico/);
    expect(res.stdout).toContain(
      `note: ${raw.id} (raw) and ${snap.id} (snapshot) hold different keys (a key dump holds only its prefixes, a snapshot every key): only the keys under /kubernetes.io, /openshift.io, /registry were compared; 3 keys held by one backup alone, outside them, are not counted above`,
    );
    const back = await runCli(['diff', snap.id, raw.id, '--json'], env('mixed'));
    expect(back.code, back.stderr).toBe(0);
    const d = JSON.parse(back.stdout) as BackupDiff;
    expect(d.summary).toMatchObject({ added: 0, removed: 1, changed: 0, outside: 3 });
    expect(d.scope).toEqual(['/kubernetes.io', '/openshift.io', '/registry']);
    expect(d.groups).toEqual([{ resource: 'configmaps', namespace: 'default', added: 0, removed: 1, changed: 0 }]);
    // Two snapshots hold every key: all of them are compared, another application's too.
    const later = await backup(env('mixed'));
    await etcd.ctl(['put', '/someapp/config', 'three']);
    const last = await backup(env('mixed'));
    const both = JSON.parse((await runCli(['diff', later.id, last.id, '--json'], env('mixed'))).stdout) as BackupDiff;
    expect(both.summary).toMatchObject({ added: 0, removed: 0, changed: 1, outside: 0 });
    expect(both).not.toHaveProperty('scope');
  });
});
