import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi } from '../helpers/api.js';
import { runDuring } from '../helpers/background-run.js';
import { runCli } from '../helpers/cli.js';
import { etcdIdsOf, startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { freePort } from '../helpers/ports.js';
import { startPushgateway } from '../helpers/pushgateway.js';

/**
 * RS_ETCD_ENDPOINTS=A,B with every member of the intended cluster A down and B a member of another cluster: the
 * one-cluster check only sees B, so `backup` stored B's dump in A's folder, retention then deleted A's backups as B's
 * piled up, and `restore latest` brought back B. Manifests now record the cluster id and member ids; a backup of
 * another cluster than the one before it in its series is warned of (both ids and members), listed as such, counted
 * by retention on its own (A's backups stay), and `restore latest` says which cluster it restores.
 */
let a: TestEtcd;
let b: TestEtcd;
let dir: string;
const KEY = '/registry/configmaps/shop/cfg';
const TOKEN = 'cluster-change-token-1234';


interface Listed {
  id: string;
  etcd: { clusterId?: string; members?: Array<{ name: string; id?: string }> };
  etcdClusterChange?: { previousId: string; previousClusterId: string };
}

let aStatus: { cluster: string; member: string };
let bStatus: { cluster: string; member: string };
const env = (endpoints: string) => ({ RS_ETCD_ENDPOINTS: endpoints, RS_BACKUP_DIR: join(dir, 'store'), RS_BACKUP_STRATEGY: 'raw', RS_RETENTION_KEEP_LAST: '2' });

/** A backup's id, and the messages of its warnings (the log is JSON lines on stderr). */
async function backup(endpoints: string): Promise<{ id: string; warned: string }> {
  const res = await runCli(['backup', '--json'], env(endpoints));
  expect(res.code, res.stderr).toBe(0);
  const lines = res.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { level: string; msg: string });
  return { id: (JSON.parse(res.stdout) as { id: string }).id, warned: lines.filter((l) => l.level === 'warn').map((l) => l.msg).join('\n') };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rs-cluster-change-'));
  [a, b] = await Promise.all([startEtcd(), startEtcd()]);
  await Promise.all([a.ctl(['put', KEY, 'from-a']), b.ctl(['put', KEY, 'from-b'])]);
  [aStatus, bStatus] = await Promise.all([etcdIdsOf(a), etcdIdsOf(b)]);
}, 120_000);
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await rm(dir, { recursive: true, force: true });
});

describe('the intended cluster down, a member of another cluster answering', () => {
  const aIds: string[] = [];
  const bIds: string[] = [];
  let firstOfB: { id: string; warned: string };

  it("records the cluster id and each member's id in the manifest", async () => {
    for (let i = 0; i < 2; i++) aIds.push((await backup(a.endpoint)).id);
    const m = JSON.parse(await readFile(join(dir, 'store', 'default', `${aIds[0]!}.manifest.json`), 'utf8')) as Listed;
    expect(m.etcd.clusterId).toBe(aStatus.cluster);
    expect(m.etcd.members?.map((s) => s.id)).toEqual([aStatus.member]);
  }, 60_000);

  it('backs up the other cluster, warning with both cluster ids and members, and exits 0', async () => {
    await a.stop();
    const two = `${a.endpoint},${b.endpoint}`;
    firstOfB = await backup(two);
    bIds.push(firstOfB.id);
    expect(firstOfB.warned).toContain(`backup ${firstOfB.id} is of etcd cluster ${bStatus.cluster} (members `);
    expect(firstOfB.warned).toContain(`[id ${bStatus.member}]`);
    expect(firstOfB.warned).toContain(`the backup before it in series "raw", ${aIds[1]!}, is of etcd cluster ${aStatus.cluster} (members `);
    expect(firstOfB.warned).toContain(`[id ${aStatus.member}]`);
    expect(firstOfB.warned).toContain(`those of cluster ${aStatus.cluster} are not deleted because of these`);
    expect(firstOfB.warned).toContain(`if RS_ETCD_ENDPOINTS names another cluster's members by mistake, correct it and delete ${firstOfB.id}`);
    // Only the first backup of the other cluster is warned of.
    const second = await backup(two);
    bIds.push(second.id);
    expect(second.warned).toBe('');
  }, 60_000);

  it("retention keeps the intended cluster's backups however many of the other's pile up", async () => {
    for (let i = 0; i < 2; i++) bIds.push((await backup(`${a.endpoint},${b.endpoint}`)).id);
    const res = await runCli(['list', '--json'], env(b.endpoint));
    expect(res.code, res.stderr).toBe(0);
    const listed = JSON.parse(res.stdout) as Listed[];
    expect(listed.map((m) => m.id)).toEqual([bIds[3], bIds[2], aIds[1], aIds[0]]);
    // The oldest of the other cluster's backups left is the one listed as a change, naming the backup before it.
    expect(listed[1]!.etcdClusterChange).toEqual({ previousId: aIds[1], previousClusterId: aStatus.cluster });
    expect(listed.filter((m) => m.etcdClusterChange !== undefined)).toHaveLength(1);
    const text = await runCli(['list'], env(b.endpoint));
    expect(text.stdout).toContain(`backup ${bIds[2]!} is of etcd cluster ${bStatus.cluster}, another than that of the backup before it in its series (${aIds[1]!}, cluster ${aStatus.cluster})`);
  }, 120_000);

  it('prune counts each cluster on its own and says which each backup was counted with', async () => {
    const res = await runCli(['prune', '--dry-run', '--json'], { ...env(b.endpoint), RS_RETENTION_KEEP_LAST: '1' });
    expect(res.code, res.stderr).toBe(0);
    const out = JSON.parse(res.stdout) as { decisions: Array<{ id: string; keep: boolean; etcdClusterId?: string }> };
    const kept = out.decisions.filter((d) => d.keep).map((d) => [d.id, d.etcdClusterId]);
    expect(kept).toEqual([
      [bIds[3], bStatus.cluster],
      [aIds[1], aStatus.cluster],
    ]);
    const text = await runCli(['prune', '--dry-run'], { ...env(b.endpoint), RS_RETENTION_KEEP_LAST: '1' });
    expect(text.stdout).toContain(`raw: 2 kept, 2 would delete (etcd cluster ${bStatus.cluster}: 1 kept, 1 would delete; etcd cluster ${aStatus.cluster}: 1 kept, 1 would delete)`);
  }, 60_000);

  it('restore latest says which cluster it restores, and how to restore the other', async () => {
    const res = await runCli(['restore', 'latest', '--dry-run'], env(b.endpoint));
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain(`note: "latest" is backup ${bIds[3]!}, of etcd cluster ${bStatus.cluster} (members `);
    expect(res.stdout).toContain(`this restores cluster ${bStatus.cluster}; to restore cluster ${aStatus.cluster}, name its newest backup: "reshifter restore ${aIds[1]!}"`);
  }, 60_000);

  it('restore latest --to says it too', async () => {
    const res = await runCli(['restore', 'latest', '--to', 'latest', '--dry-run'], env(b.endpoint));
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain(`note: "latest" is backup ${bIds[3]!}, of etcd cluster ${bStatus.cluster} (members `);
    expect(res.stdout).toContain(`this restores cluster ${bStatus.cluster}; to restore cluster ${aStatus.cluster}, name its newest backup: "reshifter restore ${aIds[1]!}"`);
    const json = await runCli(['restore', 'latest', '--to', 'latest', '--dry-run', '--json'], env(b.endpoint));
    expect(json.code, json.stderr).toBe(0);
    expect((JSON.parse(json.stdout) as { clusterNote?: string }).clusterNote).toContain(`this restores cluster ${bStatus.cluster}; to restore cluster ${aStatus.cluster}`);
  }, 60_000);

  it("the API's restore of latest says it too", async () => {
    const api = await startApi({ ...env(b.endpoint), RS_API_TOKEN: TOKEN });
    try {
      const res = await api.call('/api/v1/restores', { method: 'POST', token: TOKEN, json: { backupId: 'latest', dryRun: true } });
      expect(res.status).toBe(202);
      const done = await api.waitJob(((await res.json()) as { id: string }).id, TOKEN);
      expect(done.state, done.error).toBe('succeeded');
      expect((done.result as { clusterNote?: string }).clusterNote).toContain(
        `this restores cluster ${bStatus.cluster}; to restore cluster ${aStatus.cluster}, restore it with {"backupId": "${aIds[1]!}"}`,
      );
    } finally {
      await api.stop();
    }
  }, 60_000);
});

describe('a cluster restored after a disaster (a new cluster id)', () => {
  it("starts its backups anew without an operator's word, and retention keeps the old cluster's", async () => {
    const [source, gw] = await Promise.all([startEtcd(), startPushgateway()]);
    let restored: TestEtcd | undefined;
    try {
      await source.ctl(['put', KEY, 'before-the-disaster']);
      const store = { RS_BACKUP_DIR: join(dir, 'dr'), RS_BACKUP_STRATEGY: 'snapshot', RS_RETENTION_KEEP_LAST: '2', RS_PUSHGATEWAY_URL: gw.url };
      const changes = async () => (await gw.samples('reshifter_backup_etcd_cluster_changes_total')).map((l) => l.split(' ').pop());
      const clusters = async () => (await gw.samples('reshifter_backup_etcd_clusters')).map((l) => l.split(' ').pop());
      const take = async (endpoint: string, variable = 'RS_ETCD_ENDPOINTS') => {
        const res = await runCli(['backup', '--json'], { ...store, [variable]: endpoint });
        expect(res.code, res.stderr).toBe(0);
        return { id: (JSON.parse(res.stdout) as { id: string }).id, stderr: res.stderr };
      };
      const old: string[] = [];
      for (let i = 0; i < 3; i++) old.push((await take(source.endpoint)).id);
      expect(await changes()).toEqual(['0']);
      expect(await clusters()).toEqual(['1']);
      const dataDir = join(dir, 'restored-member');
      const member = ['--name', 'test', '--initial-cluster', 'test=http://127.0.0.1:2380', '--initial-advertise-peer-urls', 'http://127.0.0.1:2380'];
      const res = await runCli(['restore', 'latest', '--data-dir', dataDir, ...member], { ...store, RS_ETCD_ENDPOINTS: source.endpoint });
      expect(res.code, res.stderr).toBe(0);
      const was = (await etcdIdsOf(source)).cluster;
      await source.stop();
      restored = await startEtcd({ dataDir });
      const now = (await etcdIdsOf(restored)).cluster;
      expect(now).not.toBe(was);
      const newer: Array<{ id: string; stderr: string }> = [];
      // Endpoints given as etcdctl's: the warning names the variable they were read from.
      newer.push(await take(restored.endpoint, 'ETCDCTL_ENDPOINTS'));
      expect(newer[0]!.stderr).toContain(`is of etcd cluster ${now}`);
      expect(newer[0]!.stderr).toContain("if ETCDCTL_ENDPOINTS names another cluster's members by mistake, correct it and delete");
      // Counted in the metrics the backup pushes (and `run` serves).
      expect(await changes()).toEqual(['1']);
      for (let i = 0; i < 2; i++) newer.push(await take(restored.endpoint));
      // Each push replaces the last: the counter's 1 is gone, the gauge of clusters kept in the series stays for alerts.
      expect(await changes()).toEqual(['0']);
      expect(await clusters()).toEqual(['2']);
      const list = await runCli(['list', '--json'], { ...store, RS_ETCD_ENDPOINTS: restored.endpoint });
      const listed = JSON.parse(list.stdout) as Listed[];
      // The new cluster's last two, and the old cluster's last two: none of the old is lost to the new ones.
      expect(listed.map((m) => m.id)).toEqual([newer[2]!.id, newer[1]!.id, old[2], old[1]]);
      expect(new Set(listed.map((m) => m.etcd.clusterId)).size).toBe(2);
      // run, restarted, serves it from its start (read from the store), before its first backup.
      const port = await freePort();
      let page = '';
      const ran = await runDuring({ RS_BACKUP_DIR: store.RS_BACKUP_DIR, RS_BACKUP_STRATEGY: 'snapshot', RS_ETCD_ENDPOINTS: restored.endpoint, RS_SCHEDULE: '0 0 1 1 *', RS_HTTP_PORT: String(port) }, { msg: 'scheduler started', timeoutMs: 60_000 }, async () => {
        page = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      });
      expect(page, ran.stderr).toMatch(/^reshifter_backup_etcd_clusters 2$/m);
      // A snapshot file of latest (k3s's --cluster-reset-restore-path) says which cluster it is of, and the other's newest.
      const file = await runCli(['restore', 'latest', '--snapshot-file', join(dir, 'latest.db'), '--json'], { ...store, RS_ETCD_ENDPOINTS: restored.endpoint });
      expect(file.code, file.stderr).toBe(0);
      expect((JSON.parse(file.stdout) as { clusterNote?: string }).clusterNote).toContain(
        `this restores cluster ${now}; to restore cluster ${was}, name its newest backup: "reshifter restore ${old[2]!}"`,
      );
      // So does a restore to a point into a new data dir.
      const point = await runCli(['restore', 'latest', '--to', 'latest', '--data-dir', join(dir, 'point-member'), ...member, '--json'], { ...store, RS_ETCD_ENDPOINTS: restored.endpoint });
      expect(point.code, point.stderr).toBe(0);
      expect((JSON.parse(point.stdout) as { clusterNote?: string }).clusterNote).toContain(`this restores cluster ${now}; to restore cluster ${was}, name its newest backup`);
    } finally {
      await Promise.all([source.stop(), restored?.stop(), gw.stop()]);
    }
  }, 120_000);
});

describe("backups of an older reshifter (no cluster id), then another cluster's", () => {
  it("are counted on their own when their members differ, so the other cluster's never push them out", async () => {
    const [c, d] = await Promise.all([startEtcd(), startEtcd()]);
    try {
      const store = join(dir, 'upgrade');
      let stderr = '';
      const take = async (endpoints: string) => {
        const res = await runCli(['backup', '--json'], { RS_ETCD_ENDPOINTS: endpoints, RS_BACKUP_DIR: store, RS_BACKUP_STRATEGY: 'raw', RS_RETENTION_KEEP_LAST: '2' });
        expect(res.code, res.stderr).toBe(0);
        stderr = res.stderr;
        return (JSON.parse(res.stdout) as { id: string }).id;
      };
      const old = [await take(c.endpoint), await take(c.endpoint)];
      // As a reshifter before the cluster id wrote them: members by name and peer URLs, no ids.
      for (const id of old) {
        const file = join(store, 'default', `${id}.manifest.json`);
        const m = JSON.parse(await readFile(file, 'utf8')) as { etcd: { clusterId?: string; members: Array<{ id?: string }> } };
        delete m.etcd.clusterId;
        for (const s of m.etcd.members) delete s.id;
        await writeFile(file, `${JSON.stringify(m, null, 2)}\n`);
      }
      await c.stop();
      const other = [await take(`${c.endpoint},${d.endpoint}`)];
      // The first backup after the upgrade is of other members than the backup before it, which records no cluster id.
      expect(stderr).toContain(`the backup before it in series \\"raw\\", ${old[1]!}, is of etcd cluster (not recorded) (members `);
      expect(stderr).toContain('the backups before it, of other members, are not deleted because of these');
      for (let i = 0; i < 2; i++) other.push(await take(`${c.endpoint},${d.endpoint}`));
      expect(stderr).not.toContain('is of etcd cluster');
      const list = await runCli(['list', '--json'], { RS_ETCD_ENDPOINTS: d.endpoint, RS_BACKUP_DIR: store });
      expect((JSON.parse(list.stdout) as Listed[]).map((m) => m.id)).toEqual([other[2], other[1], old[1], old[0]]);
    } finally {
      await Promise.all([c.stop(), d.stop()]);
    }
  }, 120_000);
});

/**
 * Endpoints given by the older name, RS_ETCD_ENDPOINT: the warning of a backup of another cluster, and the refusal of
 * endpoints of two clusters, told the operator to correct RS_ETCD_ENDPOINTS, which was not set. They name the
 * variable set now (ETCDCTL_ENDPOINTS: see the disaster recovery case above).
 */
describe('endpoints given as RS_ETCD_ENDPOINT', () => {
  it('the warning of another cluster and the refusal of two clusters name RS_ETCD_ENDPOINT', async () => {
    const [c, d] = await Promise.all([startEtcd(), startEtcd()]);
    try {
      const store = { RS_BACKUP_DIR: join(dir, 'older-name'), RS_BACKUP_STRATEGY: 'raw' };
      const first = await runCli(['backup'], { ...store, RS_ETCD_ENDPOINT: c.endpoint });
      expect(first.code, first.stderr).toBe(0);
      const other = await runCli(['backup', '--json'], { ...store, RS_ETCD_ENDPOINT: d.endpoint });
      expect(other.code, other.stderr).toBe(0);
      const id = (JSON.parse(other.stdout) as { id: string }).id;
      expect(other.stderr).toContain(`if RS_ETCD_ENDPOINT names another cluster's members by mistake, correct it and delete ${id}`);
      const both = await runCli(['backup'], { ...store, RS_ETCD_ENDPOINT: `${c.endpoint},${d.endpoint}` });
      expect(both.code, both.stderr).toBe(1);
      expect(both.stderr).toContain('RS_ETCD_ENDPOINT name members of different etcd clusters');
      expect(`${other.stderr}${both.stderr}`).not.toContain('RS_ETCD_ENDPOINTS');
    } finally {
      await Promise.all([c.stop(), d.stop()]);
    }
  }, 120_000);
});
