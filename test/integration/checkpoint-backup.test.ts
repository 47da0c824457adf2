import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import type { JobView } from '../../src/core/jobs.js';
import { COMPONENTS } from '../../src/server/api/schemas.js';
import { validate } from '../../src/server/api/schema.js';
import { processMetrics } from '../../src/server/metrics.js';
import { startApi } from '../helpers/api.js';
import { writeCheckpointArchive } from '../helpers/checkpoint-archive.js';
import { makeCerts, type TestCerts } from '../helpers/certs.js';
import { startFakeKubelet, type FakeKubelet } from '../helpers/fake-kubelet.js';
import { runInProcess } from '../helpers/in-process.js';
import { readOnlyView } from '../helpers/read-only.js';

/**
 * `backup` with RS_BACKUP_STRATEGY=checkpoint against a kubelet stand-in (test/helpers/fake-kubelet.ts: no kubelet,
 * CRI-O or CRIU runs here, so an HTTPS server on loopback speaks the kubelet's GET /pods and POST /checkpoint, and
 * requires a client certificate signed by its CA or a bearer token it knows, as the kubelet does). It writes archives
 * in CRI-O's layout into a folder that stands for the node's /var/lib/kubelet/checkpoints. The store is a local
 * folder; artifacts are zstd-compressed and age-encrypted, and decoded here with the age and zstd CLIs.
 */
const run = promisify(execFile);
let certs: TestCerts;
let dir: string;
let nodeDir: string;
let seenDir: string;
let store: string;
let kubelet: FakeKubelet;
let identity: string;
let recipient: string;

beforeAll(async () => {
  certs = await makeCerts();
  dir = mkdtempSync(join(tmpdir(), 'rs-ckpt-'));
  nodeDir = join(dir, 'node');
  seenDir = join(dir, 'seen');
  store = join(dir, 'store');
  mkdirSync(seenDir);
  identity = join(dir, 'age.txt');
  execFileSync('age-keygen', ['-o', identity], { stdio: 'pipe' });
  recipient = /public key: (age1\S+)/.exec(readFileSync(identity, 'utf8'))![1]!;
  kubelet = await startFakeKubelet({
    certs,
    checkpointDir: nodeDir,
    nodeName: 'worker-3',
    pods: [
      { namespace: 'shop', name: 'web', containers: [{ name: 'app', pagesBytes: 3_000_000 }, { name: 'envoy' }] },
      { namespace: 'shop', name: 'db-0', containers: [{ name: 'postgres', pagesBytes: 500_000 }] },
      { namespace: 'shop', name: 'cache', containers: [{ name: 'redis' }] },
    ],
    tokens: { 'good-token': 'system:serviceaccount:backup:reshifter', 'pods-only-token': 'system:serviceaccount:backup:viewer' },
    allowed: { 'system:serviceaccount:backup:viewer': ['pods'] },
    // The node's archive as the kubelet wrote it, copied before the backup deletes it.
    onArchive: (path) => copyFileSync(path, join(seenDir, basename(path))),
  });
});
afterAll(async () => {
  await kubelet?.close();
  await certs?.remove();
  rmSync(dir, { recursive: true, force: true });
});

const env = (extra: Record<string, string> = {}): Record<string, string> => ({
  RS_BACKUP_DIR: store,
  RS_CLUSTER_NAME: 'prod',
  RS_BACKUP_STRATEGY: 'checkpoint',
  RS_CHECKPOINT_TARGETS: 'shop/web/*,shop/db-0/postgres',
  RS_KUBELET_URL: kubelet.url,
  RS_KUBELET_CA_CERT: certs.ca,
  RS_KUBELET_CLIENT_CERT: certs.client.cert,
  RS_KUBELET_CLIENT_KEY: certs.client.key,
  RS_CHECKPOINT_DIR: nodeDir,
  RS_ENCRYPTION_RECIPIENTS: recipient,
  RS_ENCRYPTION_IDENTITY_FILE: identity,
  ...extra,
});
const tokenEnv = (token: string): Record<string, string> => {
  const file = join(dir, `token-${token}`);
  writeFileSync(file, `${token}\n`);
  const { RS_KUBELET_CLIENT_CERT: _c, RS_KUBELET_CLIENT_KEY: _k, ...rest } = env();
  return { ...rest, RS_KUBELET_TOKEN_FILE: file };
};

const listed = async (series = 'checkpoint'): Promise<Manifest[]> => JSON.parse((await runInProcess(['list', '--json', '--strategy', series], env())).stdout) as Manifest[];
const key = (m: Manifest) => `${m.checkpoint!.namespace}/${m.checkpoint!.pod}/${m.checkpoint!.container}`;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
/** The stored artifact decoded with the age and zstd CLIs. */
const decoded = (m: Manifest): Buffer =>
  execFileSync('sh', ['-c', 'age -d -i "$1" "$2" | zstd -d -c', 'sh', identity, join(store, 'prod', m.artifact)], { maxBuffer: 64 * 1024 * 1024 });
const ids = (stdout: string) => stdout.trim().split('\n').filter((l) => l !== '').map((l) => l.split('\t')[0]!);

describe('checkpoint backups', () => {
  let first: Manifest[] = [];

  it('checkpoints three containers (a pod with two, one more) as three backups, byte for byte, and removes the node copies', async () => {
    const res = await runInProcess(['backup'], env());
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    const printed = ids(res.stdout);
    expect(printed).toHaveLength(3);
    expect(res.stdout).toMatch(/\tshop\/web\/app\t.*\.checkpoint\.tar\.zst\.age\t\d+ bytes/);

    first = await listed();
    expect(first.map((m) => m.id).sort()).toEqual([...printed].sort());
    expect(first.map(key).sort()).toEqual(['shop/db-0/postgres', 'shop/web/app', 'shop/web/envoy']);
    const seen = readdirSync(seenDir);
    expect(seen).toHaveLength(3);
    for (const m of first) {
      const c = m.checkpoint!;
      const file = seen.find((f) => f.startsWith(`checkpoint-${c.pod}_${c.namespace}-${c.container}-`))!;
      expect(m).toMatchObject({
        strategy: 'checkpoint',
        contentType: 'container-checkpoint',
        compression: 'zstd',
        encryption: 'age',
        cluster: 'prod',
        checkpoint: { node: 'worker-3', kubeletPath: `/var/lib/kubelet/checkpoints/${file}`, fileName: file, containerManager: 'cri-o' },
      });
      expect(m.etcd).toBeUndefined();
      // The artifact is the node's archive, compressed and encrypted: decoded, the same bytes.
      const node = readFileSync(join(seenDir, file));
      const stored = decoded(m);
      expect(stored.equals(node)).toBe(true);
      expect(m.rawSizeBytes).toBe(node.length);
      expect(c.archiveSha256).toBe(sha256(node));
      expect(m.sha256).toBe(sha256(readFileSync(join(store, 'prod', m.artifact))));
    }
    // The node's copies are gone (nothing else on a node cleans them up).
    expect(readdirSync(nodeDir)).toEqual([]);
    const metrics = await processMetrics().registry.metrics();
    expect(metrics).toContain('reshifter_backup_total{strategy="checkpoint",outcome="success"} 3');
    expect(metrics).toMatch(/reshifter_backup_size_bytes\{strategy="checkpoint"\} \d+/);
  });

  it('lists them by container series and verifies each archive\'s layout', async () => {
    const text = await runInProcess(['list'], env());
    expect(text.stdout).toMatch(/checkpoint:shop\/web\/envoy/);
    const app = await listed('checkpoint:shop/web/app');
    expect(app.map(key)).toEqual(['shop/web/app']);
    const verify = await runInProcess(['verify', 'latest', '--strategy', 'checkpoint:shop/db-0/postgres'], env());
    expect(verify.code).toBe(0);
    expect(verify.stdout).toMatch(/ok\s+sha256/);
    expect(verify.stdout).toMatch(/ok\s+content\s+container-checkpoint ok/);
    // A checkpoint is no etcd backup: stats and diff say so.
    const stats = await runInProcess(['stats', app[0]!.id], env());
    expect(stats.code).toBe(1);
    expect(stats.stderr).toContain('is a container checkpoint (shop/web/app), which stats cannot read');
  });

  it('restores a checkpoint as an OCI image archive: the layer is the archive, the CRI-O annotation names the container', async () => {
    const app = first.find((m) => key(m) === 'shop/web/app')!;
    const image = join(dir, 'web-app.oci.tar');
    const res = await runInProcess(['restore', app.id, '--image-archive', image, '--image-name', 'registry.example.com/shop/web-app:ckpt'], env());
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toContain(`wrote checkpoint ${app.id} of shop/web/app as an OCI image archive: ${image}`);

    const raw = JSON.parse((await run('skopeo', ['--insecure-policy', 'inspect', '--raw', `oci-archive:${image}`])).stdout) as {
      layers: Array<{ digest: string; mediaType: string; size: number }>;
      annotations: Record<string, string>;
    };
    const node = readFileSync(join(seenDir, app.checkpoint!.fileName));
    expect(raw.layers).toEqual([{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${sha256(node)}`, size: node.length }]);
    expect(raw.annotations['io.kubernetes.cri-o.annotations.checkpoint.name']).toBe('app');
    expect(raw.annotations['org.criu.checkpoint.pod.name']).toBe('web');
    // skopeo copies it (as it would to a registry): the layer blob it writes is the node's archive, byte for byte.
    const copied = join(dir, 'copied');
    await run('skopeo', ['--insecure-policy', 'copy', `oci-archive:${image}:registry.example.com/shop/web-app:ckpt`, `dir:${copied}`]);
    expect(readFileSync(join(copied, sha256(node))).equals(node)).toBe(true);

    // The same file is never overwritten; a checkpoint needs --image-archive; an etcd restore flag is refused with it.
    const again = await runInProcess(['restore', app.id, '--image-archive', image], env());
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('exists already');
    const bare = await runInProcess(['restore', app.id], env());
    expect(bare.code).toBe(2);
    expect(bare.stderr).toContain('is a container checkpoint: restore it as an OCI image with --image-archive FILE');
    const mixed = await runInProcess(['restore', app.id, '--image-archive', join(dir, 'x.tar'), '--dry-run'], env());
    expect(mixed.code).toBe(2);
    expect(mixed.stderr).toContain('--dry-run cannot be combined with --image-archive');
    // A folder that is not there, or that cannot be written (a read-only mount, or a non-root user's: see
    // core/writable-path.ts), is refused before the backup is read: it failed once the checkpoint was decoded.
    const nowhere = join(dir, 'nowhere');
    const missing = await runInProcess(['restore', app.id, '--image-archive', join(nowhere, 'x.tar')], env());
    expect(missing.code, missing.stderr).toBe(2);
    expect(missing.stderr).toContain(`--image-archive: the folder ${nowhere} does not exist; create it or name a file in another one`);
    expect(missing.stderr).not.toContain('reading backup');
    mkdirSync(join(dir, 'images'));
    const view = await readOnlyView(join(dir, 'images'));
    expect(view, 'root may bind-mount here').toBeDefined();
    try {
      const closed = await runInProcess(['restore', app.id, '--image-archive', join(view!.path, 'x.tar')], env());
      expect(closed.code, closed.stderr).toBe(2);
      expect(closed.stderr).toMatch(new RegExp(`--image-archive: the folder ${view!.path} cannot be written(: its file system is read-only| by uid \\d+ \\(mode 0500); name a file in a folder it can write`));
      expect(closed.stderr).not.toContain('reading backup');
    } finally {
      await view!.release();
    }
  });

  it('keeps the node copy with RS_CHECKPOINT_KEEP_LOCAL=true', async () => {
    const res = await runInProcess(['backup'], env({ RS_CHECKPOINT_TARGETS: 'shop/db-0/postgres', RS_CHECKPOINT_KEEP_LOCAL: 'true' }));
    expect(res.code).toBe(0);
    const [m] = (await listed('checkpoint:shop/db-0/postgres')).filter((x) => x.id === ids(res.stdout)[0]);
    expect(readdirSync(nodeDir)).toEqual([m!.checkpoint!.fileName]);
    expect(decoded(m!).equals(readFileSync(join(nodeDir, m!.checkpoint!.fileName)))).toBe(true);
    rmSync(join(nodeDir, m!.checkpoint!.fileName));
  });

  it('names each failure (runtime refusal, unknown container, no pod), stores the rest, and nothing for the failed', async () => {
    const before = await listed();
    const files = readdirSync(join(store, 'prod')).length;
    kubelet.options.override = (r) => {
      if (r.path.startsWith('/checkpoint/shop/cache/redis')) {
        return { status: 500, body: 'checkpointing of shop/cache/redis failed (rpc error: code = Unknown desc = checkpoint/restore support not available)' };
      }
      if (r.path.startsWith('/checkpoint/shop/web/envoy')) return { status: 404, body: 'container envoy does not exist' };
      return undefined;
    };
    try {
      const res = await runInProcess(['backup'], env({ RS_CHECKPOINT_TARGETS: 'shop/web/*,shop/cache/redis,shop/ghost/app' }));
      expect(res.code).toBe(1);
      const stored = ids(res.stdout);
      expect(stored).toHaveLength(1);
      expect(res.stdout).toContain('\tshop/web/app\t');
      expect(res.stderr).toContain('3 of 4 container checkpoints failed, nothing was stored for them:');
      expect(res.stderr).toMatch(/shop\/cache\/redis: checkpoint of shop\/cache\/redis failed at https:\/\/127\.0\.0\.1:\d+: the container runtime cannot checkpoint: CRI-O with CRIU is needed/);
      expect(res.stderr).toMatch(/shop\/web\/envoy: .*no container shop\/web\/envoy on this node \(kubelet said: container envoy does not exist\)/);
      expect(res.stderr).toContain('shop/ghost/app: no pod shop/ghost on this node');
      const after = await listed();
      expect(after.filter((m) => !before.some((b) => b.id === m.id)).map(key)).toEqual(['shop/web/app']);
      // One artifact and one manifest more: nothing (not even a partial file) for the failed ones.
      expect(readdirSync(join(store, 'prod')).length).toBe(files + 2);
    } finally {
      kubelet.options.override = undefined;
    }
    const metrics = await processMetrics().registry.metrics();
    // Two containers failed, and one target selected nothing.
    expect(metrics).toContain('reshifter_backup_total{strategy="checkpoint",outcome="failure"} 3');
  });

  it('stores nothing of an archive whose layout is broken, and keeps it on the node', async () => {
    const before = await listed();
    const files = readdirSync(join(store, 'prod')).length;
    // The kubelet answers with an archive that has no spec.dump: the backup reads it once, finds that, stores nothing.
    const broken = 'checkpoint-web_shop-envoy-2026-12-04T10:00:00Z.tar';
    await writeCheckpointArchive(join(nodeDir, broken), { namespace: 'shop', pod: 'web', container: 'envoy', pagesBytes: 2_000_000, omit: ['spec.dump'] });
    kubelet.options.override = (r) => (r.path.startsWith('/checkpoint/shop/web/envoy') ? { status: 200, body: `{"items":["/var/lib/kubelet/checkpoints/${broken}"]}` } : undefined);
    try {
      const res = await runInProcess(['backup'], env({ RS_CHECKPOINT_TARGETS: 'shop/web/envoy' }));
      expect(res.code).toBe(1);
      expect(res.stdout).toBe('');
      expect(res.stderr).toContain(`shop/web/envoy: content: ${broken} is not a usable checkpoint archive (container checkpoint: spec.dump: missing); nothing was stored`);
    } finally {
      kubelet.options.override = undefined;
    }
    expect((await listed()).length).toBe(before.length);
    expect(readdirSync(join(store, 'prod')).length).toBe(files);
    expect(readdirSync(nodeDir)).toEqual([broken]);
    rmSync(join(nodeDir, broken));
  });

  it('names the kubelet\'s 401 and 403, storing nothing', async () => {
    const before = (await listed()).length;
    const forbidden = await runInProcess(['backup'], tokenEnv('pods-only-token'));
    expect(forbidden.code).toBe(1);
    expect(forbidden.stdout).toBe('');
    expect(forbidden.stderr).toContain('3 of 3 container checkpoints failed');
    expect(forbidden.stderr).toContain('the kubelet authenticated us as "system:serviceaccount:backup:viewer", who is not allowed nodes/checkpoint (verb create)');
    const unauthorized = await runInProcess(['backup'], tokenEnv('stale-token'));
    expect(unauthorized.code).toBe(1);
    expect(unauthorized.stderr).toContain('the kubelet refused our credentials (RS_KUBELET_TOKEN_FILE)');
    // The broken archive, three refused checkpoints and a refused pod list more, in the metrics `run` serves and alerts read.
    expect(await processMetrics().registry.metrics()).toContain('reshifter_backup_total{strategy="checkpoint",outcome="failure"} 8');
    expect((await listed()).length).toBe(before);
    expect(readdirSync(nodeDir)).toEqual([]);
    // A token the kubelet accepts works as a client certificate does.
    const ok = await runInProcess(['backup'], { ...tokenEnv('good-token'), RS_CHECKPOINT_TARGETS: 'shop/db-0/postgres' });
    expect(ok.code).toBe(0);
    expect(ids(ok.stdout)).toHaveLength(1);
  });

  it('lists checkpoints through the API (by container series) and takes them as a backup job', async () => {
    const token = 'checkpoint-api-token-1';
    const api = await startApi(env({ RS_API_TOKEN: token }));
    try {
      const all = (await (await api.call('/api/v1/backups?strategy=checkpoint', { token })).json()) as Manifest[];
      expect(all.length).toBe((await listed()).length);
      for (const m of all) expect(validate({ $ref: '#/components/schemas/Manifest' }, m, COMPONENTS)).toBeUndefined();
      const one = (await (await api.call('/api/v1/backups?strategy=checkpoint:shop/web/envoy', { token })).json()) as Manifest[];
      expect(one.length).toBeGreaterThan(0);
      expect(one.every((m) => key(m) === 'shop/web/envoy')).toBe(true);
      const refused = await api.call('/api/v1/restores', { method: 'POST', token, json: { backupId: one[0]!.id } });
      expect(refused.status).toBe(400);
      expect(((await refused.json()) as { error: string }).error).toContain(`is a container checkpoint, restored as an OCI image with reshifter restore ${one[0]!.id} --image-archive FILE`);
      const res = await api.call('/api/v1/backups', { method: 'POST', token, json: { strategy: 'checkpoint' } });
      expect(res.status).toBe(202);
      const job = await api.waitJob(((await res.json()) as JobView).id, token);
      expect(job.state).toBe('succeeded');
      expect((job.result as Manifest[]).map(key).sort()).toEqual(['shop/db-0/postgres', 'shop/web/app', 'shop/web/envoy']);
    } finally {
      await api.stop();
    }
    expect(readdirSync(nodeDir)).toEqual([]);
  });

  it('keeps the newest of each container with RS_RETENTION_KEEP_LAST=1', async () => {
    expect((await listed()).length).toBeGreaterThan(3);
    const res = await runInProcess(['backup'], env({ RS_RETENTION_KEEP_LAST: '1' }));
    expect(res.code).toBe(0);
    const kept = await listed();
    expect(kept.map((m) => m.id).sort()).toEqual(ids(res.stdout).sort());
    expect(kept.map(key).sort()).toEqual(['shop/db-0/postgres', 'shop/web/app', 'shop/web/envoy']);
    // The deleted backups' files went with them.
    expect(readdirSync(join(store, 'prod')).length).toBe(6);
    expect(existsSync(join(store, 'prod', first[0]!.artifact))).toBe(false);
  });
});
