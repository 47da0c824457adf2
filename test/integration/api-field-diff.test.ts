import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import type { BackupDiff } from '../../src/ops/diff.js';
import { protobufObject } from '../../src/demo/sample-data.js';
import { validate, type Schema } from '../../src/server/api/schema.js';
import { startApi, type TestApi } from '../helpers/api.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { runInProcess } from '../helpers/in-process.js';

/**
 * The diff API names the fields that changed in changed objects, read back from real snapshots and key dumps: a JSON
 * ConfigMap with its values, a protobuf ConfigMap's data, a protobuf Deployment's labels (its spec cannot be named
 * without schemas), a Secret's paths and never its values; without RS_API_TOKEN no value at all.
 */
const TOKEN = 'field-diff-token-3e8a';
let etcd: TestEtcd;
let work: string;
let withToken: TestApi;
let open: TestApi;
let doc: { components: { schemas: Record<string, Schema> } };
const backups: Record<string, Manifest> = {};

const SECRET_OLD = 'b2xkLXBhc3N3b3Jk';
const SECRET_NEW = 'bmV3LXBhc3N3b3Jk';
const json = (o: unknown) => Buffer.from(JSON.stringify(o));
const configMap = (data: Record<string, string>) => json({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app', namespace: 'prod', labels: { app: 'shop' } }, data });
const secret = (password: string) => json({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'prod' }, type: 'Opaque', data: { password } });
/** One protobuf map entry {key = 1, value = 2} (short strings only). */
const entry = (key: string, value: string) => Buffer.concat([Buffer.from([0x0a, key.length]), Buffer.from(key), Buffer.from([0x12, value.length]), Buffer.from(value)]);
const meta = (labels: Record<string, string>) => ({ name: 'web', namespace: 'prod', uid: '1b2c', labels, creationSeconds: 1_763_000_000 });

async function diff(api: TestApi, from: string, to: string): Promise<BackupDiff> {
  const res = await api.call(`/api/v1/diff?from=${backups[from]!.id}&to=${backups[to]!.id}`, { token: TOKEN });
  expect(res.status).toBe(200);
  const d = (await res.json()) as BackupDiff;
  expect(validate({ $ref: '#/components/schemas/Diff' }, d, doc.components.schemas)).toBeUndefined();
  return d;
}
const fieldsOf = (d: BackupDiff, key: string) => d.objects.find((o) => o.key === key)?.fields;

beforeAll(async () => {
  etcd = await startEtcd();
  work = await mkdtemp(join(tmpdir(), 'rs-field-diff-'));
  const env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: join(work, 'store'), RS_CLUSTER_NAME: 'fields' };
  const client = new Etcd3({ hosts: etcd.endpoint });
  try {
    await client.put('/registry/configmaps/prod/app').value(configMap({ mode: 'fast', size: '1' }));
    await client.put('/registry/configmaps/prod/proto').value(protobufObject('v1', 'ConfigMap', meta({ app: 'web' }), entry('level', 'info')));
    await client.put('/registry/deployments/prod/web').value(protobufObject('apps/v1', 'Deployment', meta({ app: 'web' }), Buffer.from('replicas-2')));
    await client.put('/registry/secrets/prod/db').value(secret(SECRET_OLD));
    for (const s of ['raw', 'snapshot']) {
      const r = await runInProcess(['backup', '--strategy', s, '--json'], env);
      expect(r.code).toBe(0);
      backups[`${s}1`] = JSON.parse(r.stdout) as Manifest;
    }
    await client.put('/registry/configmaps/prod/app').value(configMap({ mode: 'safe', size: '1' }));
    await client.put('/registry/configmaps/prod/proto').value(protobufObject('v1', 'ConfigMap', meta({ app: 'web' }), entry('level', 'debug')));
    await client.put('/registry/deployments/prod/web').value(protobufObject('apps/v1', 'Deployment', meta({ app: 'web', tier: 'gold' }), Buffer.from('replicas-3')));
    await client.put('/registry/secrets/prod/db').value(secret(SECRET_NEW));
    for (const s of ['raw', 'snapshot']) {
      const r = await runInProcess(['backup', '--strategy', s, '--json'], env);
      expect(r.code).toBe(0);
      backups[`${s}2`] = JSON.parse(r.stdout) as Manifest;
    }
  } finally {
    client.close();
  }
  [withToken, open] = await Promise.all([startApi({ ...env, RS_API_TOKEN: TOKEN }), startApi(env)]);
  doc = (await (await withToken.call('/api/v1/openapi.json', { token: TOKEN })).json()) as typeof doc;
});

afterAll(async () => {
  await Promise.all([withToken?.stop(), open?.stop()]);
  await etcd?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('field diffs through the API', () => {
  it.each([
    ['two key dumps', 'raw1', 'raw2'],
    ['two snapshots', 'snapshot1', 'snapshot2'],
    ['a key dump and a snapshot', 'raw1', 'snapshot2'],
  ])("names the changed fields between %s, a Secret's without values", async (_what, from, to) => {
    const d = await diff(withToken, from, to);
    expect(d.summary.changed).toBe(4);
    expect(fieldsOf(d, '/registry/configmaps/prod/app')).toEqual({ compared: 'object', truncated: false, changes: [{ path: 'data.mode', change: 'changed', from: '"fast"', to: '"safe"' }] });
    expect(fieldsOf(d, '/registry/configmaps/prod/proto')).toEqual({ compared: 'object', truncated: false, changes: [{ path: 'data.level', change: 'changed', from: '"info"', to: '"debug"' }] });
    expect(fieldsOf(d, '/registry/deployments/prod/web')).toMatchObject({ compared: 'metadata', changes: [{ path: 'metadata.labels.tier', change: 'added', to: '"gold"' }] });
    expect(fieldsOf(d, '/registry/secrets/prod/db')).toEqual({ compared: 'object', truncated: false, valuesHidden: 'sensitive', changes: [{ path: 'data.password', change: 'changed' }] });
    const text = JSON.stringify(d);
    expect(text).not.toContain(SECRET_OLD);
    expect(text).not.toContain(SECRET_NEW);
  });

  it('gives no values at all when the API has no token: anyone who reaches it could read them', async () => {
    const d = await diff(open, 'raw1', 'raw2');
    expect(fieldsOf(d, '/registry/configmaps/prod/app')).toEqual({ compared: 'object', truncated: false, valuesHidden: 'no-token', changes: [{ path: 'data.mode', change: 'changed' }] });
    expect(fieldsOf(d, '/registry/secrets/prod/db')!.valuesHidden).toBe('sensitive');
    expect(JSON.stringify(d)).not.toMatch(/fast|safe|info|debug|gold/);
  });

  it('the CLI says the same in --json', async () => {
    const r = await runInProcess(['diff', backups.raw1!.id, backups.raw2!.id, '--json'], { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: join(work, 'store'), RS_CLUSTER_NAME: 'fields' });
    expect(r.code).toBe(0);
    const d = JSON.parse(r.stdout) as BackupDiff;
    expect(fieldsOf(d, '/registry/configmaps/prod/app')!.changes).toEqual([{ path: 'data.mode', change: 'changed', from: '"fast"', to: '"safe"' }]);
    expect(r.stdout).not.toContain(SECRET_NEW);
  });
});
