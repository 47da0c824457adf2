import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDataset } from '../../src/demo/load-dataset.js';
import { sampleDataset } from '../../src/demo/sample-data.js';
import { startApi, type TestApi } from '../helpers/api.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { runInProcess } from '../helpers/in-process.js';

/**
 * The web UI behind a reverse proxy that serves it under a path (an ingress at `https://host/reshifter/` that strips
 * the prefix, as ingress-nginx's rewrite-target and Traefik's stripPrefix do), in a real headless Chromium. The page
 * named its files and the API from the root (`/ui/app.js`, `/api/v1/...`), so behind the proxy it loaded nothing:
 * those paths are not the proxy's to forward. Opened at the prefix with `/` the page's relative names work alone;
 * opened without it, the proxy's X-Forwarded-Prefix says where the files are.
 */
const CHROMIUM = process.env.RS_CHROMIUM ?? '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium && process.env.CI) throw new Error(`the web UI test needs Chromium at ${CHROMIUM}: scripts/install-deps.sh installs it`);
const TOKEN = 'prefix-test-token-8d2a61f0';
const PREFIX = '/reshifter';

let etcd: TestEtcd;
let work: string;
let api: TestApi;
let proxy: Server;
let proxyUrl: string;
/** Paths the proxy was asked for, as the browser asked for them. */
const asked: string[] = [];
let context: BrowserContext;
let page: Page;

/** The ingress: forwards `/reshifter` and `/reshifter/...` to the server without the prefix, anything else is 404. */
function startPrefixProxy(target: string): Promise<Server> {
  const to = new URL(target);
  const server = createServer((req, res) => {
    const path = req.url ?? '/';
    asked.push(path);
    if (path !== PREFIX && !path.startsWith(`${PREFIX}/`) && !path.startsWith(`${PREFIX}?`)) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not routed by this ingress');
      return;
    }
    const rest = path.slice(PREFIX.length);
    const headers = { ...req.headers, host: to.host, 'x-forwarded-prefix': PREFIX, 'x-forwarded-proto': 'https' };
    const up = request({ host: to.hostname, port: to.port, method: req.method, path: rest.startsWith('/') ? rest : `/${rest}`, headers }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe.skipIf(!hasChromium)('the web UI behind a reverse proxy under a path', () => {
  beforeAll(async () => {
    etcd = await startEtcd();
    work = await mkdtemp(join(tmpdir(), 'rs-ui-prefix-'));
    const client = new Etcd3({ hosts: etcd.endpoint });
    await loadDataset(client, sampleDataset({ namespaces: 2, podsPerNamespace: 2, podSpecBytes: 100 }));
    client.close();
    const env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: join(work, 'store'), RS_CLUSTER_NAME: 'behind-proxy' };
    for (const strategy of ['snapshot', 'raw']) expect((await runInProcess(['backup', '--strategy', strategy], env)).code).toBe(0);
    api = await startApi({ ...env, RS_API_TOKEN: TOKEN });
    proxy = await startPrefixProxy(api.url);
    proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    const { chromium } = await import('playwright-core');
    context = await chromium.launchPersistentContext(await mkdtemp(join(tmpdir(), 'rs-chromium-')), {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(20_000);
  });

  afterAll(async () => {
    await context?.close();
    await new Promise((r) => (proxy ? proxy.close(r) : r(undefined)));
    await api?.stop();
    await etcd?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** Opens `path` at the proxy, gives the token, and waits for the two backups the API lists through the proxy. */
  async function openAndList(path: string): Promise<void> {
    asked.length = 0;
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${proxyUrl}${path}`);
    await page.getByLabel('API token').fill(TOKEN);
    await page.getByRole('button', { name: 'Use token' }).click();
    await expect.poll(() => page.locator('ol.timeline button.backup-item').count()).toBe(2);
    expect(await page.locator('#cluster').innerText()).toBe('cluster behind-proxy');
    expect(errors).toEqual([]);
    // Everything the page asked for stayed under the prefix: its files and every API call.
    expect(asked.filter((p) => !p.startsWith(PREFIX))).toEqual([]);
    expect(asked).toEqual(expect.arrayContaining([`${PREFIX}/ui/app.js`, `${PREFIX}/ui/app.css`, `${PREFIX}/api/v1/backups`]));
  }

  it('loads its files and calls the API under the prefix when opened at it with a trailing slash', async () => {
    await openAndList(`${PREFIX}/`);
  });

  it('does so too when opened without the slash, from the prefix the proxy sends', async () => {
    await openAndList(PREFIX);
  });

  it("gives a job's Location under the prefix, so that a script polling it through the proxy finds the job", async () => {
    // Before: /api/v1/jobs/<id>, which the proxy does not route.
    const auth = { Authorization: `Bearer ${TOKEN}` };
    const [m] = (await (await fetch(`${proxyUrl}${PREFIX}/api/v1/backups`, { headers: auth })).json()) as Array<{ id: string }>;
    const started = await fetch(`${proxyUrl}${PREFIX}/api/v1/backups/${m!.id}/verify`, { method: 'POST', headers: auth });
    expect(started.status).toBe(202);
    const { id } = (await started.json()) as { id: string };
    const location = started.headers.get('location');
    expect(location).toBe(`${PREFIX}/api/v1/jobs/${id}`);
    const job = await fetch(`${proxyUrl}${location}`, { headers: auth });
    expect(job.status).toBe(200);
    expect(((await job.json()) as { id: string }).id).toBe(id);
    // Without the proxy's header (a client on the Service directly), the Location is the server's own.
    const direct = await api.call(`/api/v1/backups/${m!.id}/verify`, { method: 'POST', token: TOKEN });
    expect(direct.headers.get('location')).toMatch(/^\/api\/v1\/jobs\//);
    await direct.arrayBuffer();
  });

  it('names the server of its OpenAPI document under the prefix, so that clients made from it call there', async () => {
    const doc = (await (await fetch(`${proxyUrl}${PREFIX}/api/v1/openapi.json`, { headers: { Authorization: `Bearer ${TOKEN}` } })).json()) as { servers: Array<{ url: string }> };
    expect(doc.servers).toEqual([{ url: `${PREFIX}/` }]);
    const direct = (await (await api.call('/api/v1/openapi.json', { token: TOKEN })).json()) as { servers: Array<{ url: string }> };
    expect(direct.servers).toEqual([{ url: '/' }]);
  });
});
