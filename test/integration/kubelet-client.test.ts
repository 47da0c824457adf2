import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkCheckpointArchive } from '../../src/archive/checkpoint-archive.js';
import { ConfigError } from '../../src/core/errors.js';
import { freePort } from '../../src/demo/free-port.js';
import { openNodeArchive, removeNodeArchive } from '../../src/kubelet/checkpoint-file.js';
import { KubeletClient } from '../../src/kubelet/client.js';
import { KubeletError } from '../../src/kubelet/errors.js';
import type { KubeletConfig } from '../../src/kubelet/types.js';
import { makeCerts, type TestCerts } from '../helpers/certs.js';
import { startFakeKubelet, type FakeKubelet, type FakeKubeletOptions, type FakePod } from '../helpers/fake-kubelet.js';

const run = promisify(execFile);
const pods: FakePod[] = [
  { namespace: 'shop', name: 'web', containers: [{ name: 'app', pagesBytes: 200_000 }, { name: 'envoy' }, { name: 'log-agent', init: true }] },
  { namespace: 'shop', name: 'db-0', containers: [{ name: 'postgres' }, { name: 'exporter', running: false }] },
];
let certs: TestCerts;
let dir: string;
const started: FakeKubelet[] = [];
const clients: KubeletClient[] = [];

beforeAll(async () => {
  certs = await makeCerts();
  dir = mkdtempSync(join(tmpdir(), 'rs-kubelet-'));
});
afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.all(started.map((k) => k.close()));
  await certs.remove();
  rmSync(dir, { recursive: true, force: true });
});

let n = 0;
async function kubelet(opts: Partial<FakeKubeletOptions> = {}): Promise<FakeKubelet> {
  const k = await startFakeKubelet({ certs, pods, checkpointDir: join(dir, `node-${++n}`), ...opts });
  started.push(k);
  return k;
}
function client(k: { url: string }, cfg: Partial<KubeletConfig> = {}): KubeletClient {
  const c = new KubeletClient({ url: k.url, caCertFile: certs.ca, clientCertFile: certs.client.cert, clientKeyFile: certs.client.key, timeoutMs: 10_000, ...cfg });
  clients.push(c);
  return c;
}
/** The KubeletError a call fails with. */
async function failure(p: Promise<unknown>): Promise<KubeletError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(KubeletError);
  return err as KubeletError;
}
const tokenFile = (token: string) => {
  const path = join(dir, `token-${++n}`);
  writeFileSync(path, `${token}\n`);
  return path;
};

describe('the fake kubelet (checked with curl, an independent client)', () => {
  it('answers like a kubelet: 401 without credentials, a PodList and a checkpoint path with a client certificate', async () => {
    const k = await kubelet();
    const curl = (...args: string[]) => run('curl', ['-sS', '--cacert', certs.ca, '-w', '\n%{http_code}', ...args]);
    expect((await curl('-X', 'POST', `${k.url}/checkpoint/shop/web/app`)).stdout).toBe('Unauthorized\n401');
    const cert = ['--cert', certs.client.cert, '--key', certs.client.key];
    const list = JSON.parse((await curl(...cert, `${k.url}/pods`)).stdout.split('\n')[0]!) as { kind: string; items: Array<{ metadata: { name: string } }> };
    expect(list.kind).toBe('PodList');
    expect(list.items.map((p) => p.metadata.name)).toEqual(['web', 'db-0']);
    const [body, code] = (await curl(...cert, '-X', 'POST', `${k.url}/checkpoint/shop/web/envoy?timeout=20`)).stdout.split('\n');
    expect(code).toBe('200');
    expect(body).toMatch(/^\{"items":\["\/var\/lib\/kubelet\/checkpoints\/checkpoint-web_shop-envoy-\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\.tar"\]\}$/);
    const file = join(k.options.checkpointDir, body!.split('/').pop()!.slice(0, -3));
    const listing = (await run('tar', ['-tf', file])).stdout;
    expect(listing).toContain('checkpoint/inventory.img');
  });
});

describe('KubeletClient', () => {
  it('lists the pods of the node with their containers and states', async () => {
    const k = await kubelet();
    const listed = await client(k).listPods();
    expect(listed.map((p) => [p.namespace, p.name, p.nodeName, p.containers.map((c) => `${c.name}:${c.state}${c.init ? ':init' : ''}`)])).toEqual([
      ['shop', 'web', 'node-1', ['app:running', 'envoy:running', 'log-agent:running:init']],
      ['shop', 'db-0', 'node-1', ['postgres:running', 'exporter:waiting']],
    ]);
    expect(listed[0]!.uid).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("checkpoints a container: the archive's name comes back, read from the checkpoint folder byte for byte, then removed", async () => {
    const k = await kubelet();
    const reply = await client(k).checkpoint('shop', 'web', 'app', 7);
    expect(k.requests.at(-1)).toMatchObject({ method: 'POST', path: '/checkpoint/shop/web/app?timeout=7', user: 'client', status: 200 });
    expect(reply.fileName).toBe(k.archives[0]);
    expect(reply.kubeletPath).toBe(`/var/lib/kubelet/checkpoints/${reply.fileName}`);
    expect(Math.abs(reply.checkpointedAt!.getTime() - Date.now())).toBeLessThan(60_000);

    const node = await openNodeArchive(k.options.checkpointDir, reply.fileName);
    const onDisk = readFileSync(join(k.options.checkpointDir, reply.fileName));
    expect(node.size).toBe(onDisk.length);
    const hash = createHash('sha256');
    const { checks, info } = await checkCheckpointArchive(node.stream.on('data', (c: Buffer) => hash.update(c)));
    expect(hash.digest('hex')).toBe(createHash('sha256').update(onDisk).digest('hex'));
    expect(checks.every((c) => c.ok)).toBe(true);
    expect([info.namespace, info.pod, info.container]).toEqual(['shop', 'web', 'app']);

    expect(await removeNodeArchive(k.options.checkpointDir, reply.fileName)).toBe(true);
    expect(existsSync(join(k.options.checkpointDir, reply.fileName))).toBe(false);
    expect(await removeNodeArchive(k.options.checkpointDir, reply.fileName)).toBe(false);
  });

  it('authenticates with a bearer token read at each request (a rotated token is used at once), and never shows it', async () => {
    const k = await kubelet({ tokens: { 'token-one': 'system:serviceaccount:reshifter:agent', 'token-two': 'rotated' } });
    const path = tokenFile('token-one');
    const c = client(k, { clientCertFile: undefined, clientKeyFile: undefined, tokenFile: path });
    await c.listPods();
    writeFileSync(path, 'token-two');
    await c.checkpoint('shop', 'db-0', 'postgres', 5);
    expect(k.requests.map((r) => r.user)).toEqual(['system:serviceaccount:reshifter:agent', 'rotated']);
    writeFileSync(path, 'token-three');
    const err = await failure(c.listPods());
    expect(err.failure).toBe('unauthorized');
    expect(err.message).toBe(
      `listing the pods failed at ${k.url}: the kubelet refused our credentials (RS_KUBELET_TOKEN_FILE): a certificate not signed by the kubelet's client CA (--client-ca-file), expired, or a token it does not accept`,
    );
    expect(err.message).not.toContain('token-three');
    writeFileSync(path, '  \n');
    expect((await failure(c.listPods())).message).toBe(`RS_KUBELET_TOKEN_FILE (${path}) holds no token`);
  });

  it('names a refused or missing credential (401)', async () => {
    const k = await kubelet();
    const none = await failure(client(k, { clientCertFile: undefined, clientKeyFile: undefined }).checkpoint('shop', 'web', 'app', 5));
    expect(none.status).toBe(401);
    expect(none.message).toBe(
      `checkpoint of shop/web/app failed at ${k.url}: the kubelet requires credentials: set RS_KUBELET_CLIENT_CERT and RS_KUBELET_CLIENT_KEY (a certificate signed by its client CA), or RS_KUBELET_TOKEN_FILE`,
    );
    const foreign = await failure(client(k, { clientCertFile: certs.otherClient.cert, clientKeyFile: certs.otherClient.key }).checkpoint('shop', 'web', 'app', 5));
    expect(foreign.message).toContain('the kubelet refused our credentials (RS_KUBELET_CLIENT_CERT)');
    expect(k.archives).toEqual([]);
  });

  it('names the permission a user lacks (403): nodes/checkpoint, or nodes/pods for the list', async () => {
    const k = await kubelet({ tokens: { t: 'system:serviceaccount:ops:viewer' }, allowed: { 'system:serviceaccount:ops:viewer': ['pods'] } });
    const c = client(k, { clientCertFile: undefined, clientKeyFile: undefined, tokenFile: tokenFile('t') });
    await c.listPods();
    const err = await failure(c.checkpoint('shop', 'web', 'app', 5));
    expect(err.failure).toBe('forbidden');
    expect(err.message).toBe(
      `checkpoint of shop/web/app failed at ${k.url}: the kubelet authenticated us as "system:serviceaccount:ops:viewer", who is not allowed nodes/checkpoint (verb create): grant it in a ClusterRole bound to that user (kubelet said: Forbidden (user=system:serviceaccount:ops:viewer, verb=create, resource=nodes, subresource(s)=[checkpoint]))`,
    );
    const k2 = await kubelet({ allowed: { client: ['checkpoint'] } });
    expect((await failure(client(k2).listPods())).message).toContain('who is not allowed nodes/pods or nodes/proxy (verb get)');
  });

  it('names an unknown pod or container (404) and a kubelet without the checkpoint API', async () => {
    const k = await kubelet();
    const c = client(k);
    expect((await failure(c.checkpoint('shop', 'ghost', 'app', 5))).message).toBe(`checkpoint of shop/ghost/app failed at ${k.url}: no pod shop/ghost on this node`);
    const nope = await failure(c.checkpoint('shop', 'web', 'nope', 5));
    expect(nope.message).toBe(`checkpoint of shop/web/nope failed at ${k.url}: no container shop/web/nope on this node (kubelet said: container nope does not exist)`);
    expect([nope.status, nope.failure]).toEqual([404, 'not-found']);
    const off = await kubelet({ checkpointApi: false });
    const gate = await failure(client(off).checkpoint('shop', 'web', 'app', 5));
    expect(gate.failure).toBe('no-checkpoint-api');
    expect(gate.message).toContain('its ContainerCheckpoint feature gate is off');
  });

  it("explains the runtime's refusal (500) and a container that is not running", async () => {
    for (const runtime of ['crio-without-criu', 'containerd-1.7'] as const) {
      const k = await kubelet({ runtime });
      const err = await failure(client(k).checkpoint('shop', 'web', 'app', 5));
      expect(err.failure).toBe('runtime-cannot-checkpoint');
      expect(err.message).toMatch(new RegExp(`^checkpoint of shop/web/app failed at ${k.url}: the container runtime cannot checkpoint: CRI-O with CRIU is needed \\(`));
      expect(err.message).toContain(runtime === 'containerd-1.7' ? 'method CheckpointContainer not implemented' : 'checkpoint/restore support not available');
      expect(k.archives).toEqual([]);
    }
    const k = await kubelet();
    const stopped = await failure(client(k).checkpoint('shop', 'db-0', 'exporter', 5));
    expect(stopped.message).toBe(`checkpoint of shop/db-0/exporter failed at ${k.url}: container shop/db-0/exporter is not running (kubelet said: checkpointing of shop/db-0/exporter failed (container exporter not found))`);
  });

  it('names TLS problems: a serving certificate from another CA, no CA, expired, or naming another host', async () => {
    const k = await kubelet();
    expect((await failure(client(k, { caCertFile: certs.otherCa }).listPods())).message).toMatch(/the kubelet's serving certificate is not signed by RS_KUBELET_CA_CERT \(unless serverTLSBootstrap is on/);
    expect((await failure(client(k, { caCertFile: undefined }).listPods())).message).toContain('is not signed by a CA this system trusts: set RS_KUBELET_CA_CERT');
    const expired = await kubelet({ server: certs.expiredServer });
    expect((await failure(client(expired).listPods())).message).toBe(`listing the pods failed at ${expired.url}: the kubelet's serving certificate has expired`);

    // A kubelet's own self-signed certificate names only the node's host name, while the agent dials the node's IP.
    const key = join(dir, 'node.key');
    const crt = join(dir, 'node.crt');
    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', crt, '-days', '3', '-subj', '/CN=node-1@1700000000', '-addext', 'subjectAltName=DNS:node-1']);
    const selfSigned = await kubelet({ server: { cert: crt, key } });
    const mismatch = await failure(client(selfSigned, { caCertFile: crt }).listPods());
    expect(mismatch.failure).toBe('tls');
    expect(mismatch.message).toContain("the kubelet's serving certificate does not name 127.0.0.1");
    expect(mismatch.message).toContain('set RS_KUBELET_SERVER_NAME');
    expect(await client(selfSigned, { caCertFile: crt, serverName: 'node-1' }).listPods()).toHaveLength(2);
  });

  it('names an endpoint where nothing listens, and one that never answers (the deadline)', async () => {
    const port = await freePort();
    const down = await failure(client({ url: `https://127.0.0.1:${port}` }).listPods());
    expect(down.message).toBe(`listing the pods failed at https://127.0.0.1:${port}: nothing listens there (RS_KUBELET_URL should be the node's kubelet, port 10250)`);
    const k = await kubelet({ override: (r) => (r.path === '/pods' ? 'stall' : undefined) });
    const slow = await failure(client(k, { timeoutMs: 300 }).listPods());
    expect([slow.failure, slow.message]).toEqual(['timeout', `listing the pods failed at ${k.url}: the kubelet did not answer within 0.3s`]);
  });

  it('treats replies as hostile: paths outside the folder, another container, garbage and floods are refused', async () => {
    const reply = (body: string) => ({ status: 200, body, contentType: 'application/json' });
    const cases: Array<[string, RegExp]> = [
      ['{"items":["/var/lib/kubelet/checkpoints/../../../etc/shadow"]}', /"shadow" is not named like a checkpoint of shop\/web\/app/],
      ['{"items":["../checkpoint-web_shop-app-2026-01-01T00:00:00Z.tar/.."]}', /"\.\." is not named like a checkpoint/],
      ['{"items":["/x/checkpoint-db-0_shop-postgres-2026-01-01T00:00:00Z.tar"]}', /is not named like a checkpoint of shop\/web\/app \(checkpoint-web_shop-app-<time>\.tar\)/],
      ['{"items":["/x/checkpoint-web_shop-app-yesterday.tar"]}', /not named like a checkpoint/],
      ['{"items":["a","b"]}', /the answer is not \{"items":\["<archive path>"\]\}/],
      ['<html>proxy error</html>', /the answer is not JSON/],
      [`{"items":["${'x'.repeat(70_000)}"]}`, /the kubelet's answer to POST \/checkpoint\/shop\/web\/app is larger than 65536 bytes/],
    ];
    for (const [body, want] of cases) {
      const k = await kubelet({ override: (r) => (r.method === 'POST' ? reply(body) : undefined) });
      const err = await failure(client(k).checkpoint('shop', 'web', 'app', 5));
      expect(err.failure, body.slice(0, 60)).toBe('bad-reply');
      expect(err.message, body.slice(0, 60)).toMatch(want);
    }
    // An absolute path elsewhere is reduced to its file name, read from the checkpoint folder only.
    const k = await kubelet({ override: (r) => (r.method === 'POST' ? reply('{"items":["/etc/checkpoint-web_shop-app-2026-01-01T00:00:00+02:00.tar"]}') : undefined) });
    expect((await client(k).checkpoint('shop', 'web', 'app', 5)).fileName).toBe('checkpoint-web_shop-app-2026-01-01T00:00:00+02:00.tar');

    const badPods = await kubelet({ override: (r) => (r.path === '/pods' ? reply('{"kind":"PodList","items":[{"metadata":{"name":"../x","namespace":"shop","uid":"u"},"spec":{"containers":[]}}]}') : undefined) });
    const err = await failure(client(badPods).listPods());
    expect(err.message).toBe(`listing the pods failed at ${badPods.url}: the kubelet's pod list is malformed: pod 1 of the list has a malformed name: "../x" is not a pod name (lowercase letters, digits, - and ., at most 253)`);
  });

  it('checks the client certificate files before any request', async () => {
    const k = await kubelet();
    expect(() => client(k, { clientCertFile: certs.expiredClient.cert, clientKeyFile: certs.expiredClient.key })).toThrow(/RS_KUBELET_CLIENT_CERT .* expired on 2020-01-02/);
    expect(() => client(k, { clientCertFile: certs.mismatched.cert, clientKeyFile: certs.mismatched.key })).toThrow(/RS_KUBELET_CLIENT_KEY is not the key of RS_KUBELET_CLIENT_CERT/);
    expect(() => client(k, { clientCertFile: certs.client.key })).toThrow(ConfigError);
    expect(() => client(k, { url: 'http://127.0.0.1:10255' })).toThrow(/must be https/);
    expect(k.requests).toEqual([]);
  });
});

describe('the node archive in RS_CHECKPOINT_DIR', () => {
  it('is opened without following links, and a missing one names RS_CHECKPOINT_DIR', async () => {
    const folder = mkdtempSync(join(dir, 'ckdir-'));
    const real = join(dir, 'elsewhere.tar');
    writeFileSync(real, 'secret');
    symlinkSync(real, join(folder, 'checkpoint-web_shop-app-2026-01-01T00:00:00Z.tar'));
    await expect(openNodeArchive(folder, 'checkpoint-web_shop-app-2026-01-01T00:00:00Z.tar')).rejects.toThrow(/is a symbolic link; a checkpoint archive is a regular file/);
    await expect(openNodeArchive(folder, 'checkpoint-db-0_shop-pg-2026-01-01T00:00:00Z.tar')).rejects.toThrow(/RS_CHECKPOINT_DIR \(.*\) holds no such file: RS_CHECKPOINT_DIR must be the node's kubelet checkpoint folder/);
    await expect(openNodeArchive(folder, '../elsewhere.tar')).rejects.toThrow(/refusing checkpoint archive name/);
    expect(await readFile(real, 'utf8')).toBe('secret');
  });
});
