import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import type { BackupDiff } from '../../src/ops/diff.js';
import { startApi, type TestApi } from '../helpers/api.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { runInProcess } from '../helpers/in-process.js';

/**
 * An OpenShift Route holds its TLS private key in spec.tls.key. The diff API shows changed fields with their values
 * to a caller with the token; a Route's private key is a credential as a Secret's data is: its path is named, its
 * text never shown, while the rest of the Route (host, termination, certificate) still is.
 */
const TOKEN = 'route-diff-token-77c1';
const KEY_OLD = '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAold-route-key';
const KEY_NEW = '-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAnew-route-key';
const KEY_ADDED = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0added';
let etcd: TestEtcd;
let work: string;
let api: TestApi;
const ids: string[] = [];

const route = (name: string, host: string, tls?: Record<string, string>) =>
  Buffer.from(JSON.stringify({ kind: 'Route', apiVersion: 'route.openshift.io/v1', metadata: { name, namespace: 'shop' }, spec: { host, ...(tls && { tls }) } }));

beforeAll(async () => {
  etcd = await startEtcd();
  work = await mkdtemp(join(tmpdir(), 'rs-route-diff-'));
  const env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: join(work, 'store') };
  const client = new Etcd3({ hosts: etcd.endpoint });
  const backup = async () => {
    const r = await runInProcess(['backup', '--strategy', 'raw', '--json'], env);
    expect(r.code).toBe(0);
    ids.push((JSON.parse(r.stdout) as Manifest).id);
  };
  try {
    await client.put('/openshift.io/routes/shop/web').value(route('web', 'a.example.com', { termination: 'edge', key: KEY_OLD, certificate: 'CERT-1' }));
    await client.put('/openshift.io/routes/shop/api').value(route('api', 'api.example.com'));
    await backup();
    await client.put('/openshift.io/routes/shop/web').value(route('web', 'b.example.com', { termination: 'edge', key: KEY_NEW, certificate: 'CERT-2' }));
    await client.put('/openshift.io/routes/shop/api').value(route('api', 'api.example.com', { termination: 'reencrypt', key: KEY_ADDED }));
    await backup();
  } finally {
    client.close();
  }
  api = await startApi({ ...env, RS_API_TOKEN: TOKEN });
});

afterAll(async () => {
  await api?.stop();
  await etcd?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the diff API and a Route\'s TLS private key', () => {
  it('names spec.tls.key as changed without its text, and shows the Route\'s other fields', async () => {
    const res = await api.call(`/api/v1/diff?from=${ids[0]}&to=${ids[1]}`, { token: TOKEN });
    expect(res.status).toBe(200);
    const text = await res.text();
    // Every key's text starts its base64 with MIIE; none of it may appear, escaped or not.
    expect(text).not.toMatch(/MIIE|route-key|w0added/);
    const d = JSON.parse(text) as BackupDiff;
    const web = d.objects.find((o) => o.key === '/openshift.io/routes/shop/web')?.fields;
    expect(web?.changes).toContainEqual({ path: 'spec.host', change: 'changed', from: '"a.example.com"', to: '"b.example.com"' });
    expect(web?.changes).toContainEqual({ path: 'spec.tls.certificate', change: 'changed', from: '"CERT-1"', to: '"CERT-2"' });
    expect(web?.changes).toContainEqual({ path: 'spec.tls.key', change: 'changed' });
    const added = d.objects.find((o) => o.key === '/openshift.io/routes/shop/api')?.fields;
    expect(added?.changes).toContainEqual({ path: 'spec.tls', change: 'added' });
  });
});
