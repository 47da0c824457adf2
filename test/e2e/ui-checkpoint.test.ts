import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type TestApi } from '../helpers/api.js';
import { makeCerts, type TestCerts } from '../helpers/certs.js';
import { startFakeKubelet, type FakeKubelet } from '../helpers/fake-kubelet.js';
import { runInProcess } from '../helpers/in-process.js';

/**
 * Container checkpoints in the web UI (headless Chromium, as ui.test.ts): three checkpoints taken through the kubelet
 * stand-in (an HTTPS server on loopback that requires a client certificate, test/helpers/fake-kubelet.ts) are listed
 * with their container, one chart series each, and a checkpoint's details name its container and node and say how it
 * is restored (as an image, not into etcd), with no etcd facts and no key counts asked for.
 */
const CHROMIUM = process.env.RS_CHROMIUM ?? '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
const TOKEN = 'ui-checkpoint-token-5d2f81';

let certs: TestCerts;
let work: string;
let kubelet: FakeKubelet;
let api: TestApi;
let context: BrowserContext;
let page: Page;

describe.skipIf(!hasChromium)('checkpoints in the web UI', () => {
  beforeAll(async () => {
    certs = await makeCerts();
    work = await mkdtemp(join(tmpdir(), 'rs-ui-ckpt-'));
    kubelet = await startFakeKubelet({
      certs,
      checkpointDir: join(work, 'node'),
      nodeName: 'worker-7',
      pods: [
        { namespace: 'shop', name: 'web', containers: [{ name: 'app' }, { name: 'envoy' }] },
        { namespace: 'shop', name: 'db-0', containers: [{ name: 'postgres' }] },
      ],
    });
    const env = {
      RS_BACKUP_DIR: join(work, 'store'),
      RS_BACKUP_STRATEGY: 'checkpoint',
      RS_CHECKPOINT_TARGETS: 'shop/*',
      RS_KUBELET_URL: kubelet.url,
      RS_KUBELET_CA_CERT: certs.ca,
      RS_KUBELET_CLIENT_CERT: certs.client.cert,
      RS_KUBELET_CLIENT_KEY: certs.client.key,
      RS_CHECKPOINT_DIR: join(work, 'node'),
    };
    expect((await runInProcess(['backup'], env)).code).toBe(0);
    api = await startApi({ ...env, RS_API_TOKEN: TOKEN });
    const { chromium } = await import('playwright-core');
    context = await chromium.launchPersistentContext(await mkdtemp(join(tmpdir(), 'rs-chromium-')), {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1280, height: 900 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(20_000);
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    await api?.stop();
    await kubelet?.close();
    await certs?.remove();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('lists each checkpoint with its container, one chart series per container, and shows one without etcd facts', async () => {
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(api.url);
    await page.getByLabel('API token').fill(TOKEN);
    await page.getByRole('button', { name: 'Use token' }).click();
    const items = page.locator('ol.timeline button.backup-item');
    await expect.poll(() => items.count()).toBe(3);
    const texts = await items.allInnerTexts();
    expect(texts.map((t) => /shop\/\S+/.exec(t)?.[0]).sort()).toEqual(['shop/db-0/postgres', 'shop/web/app', 'shop/web/envoy']);
    for (const t of texts) expect(t).not.toMatch(/rev /);
    expect(await page.locator('ol.timeline .badge-checkpoint').count()).toBe(3);
    const series = await page.locator('#chart svg.chart-svg g.series').evaluateAll((gs) => gs.map((g) => g.getAttribute('data-series')));
    expect([...series].sort()).toEqual(['checkpoint:shop/db-0/postgres', 'checkpoint:shop/web/app', 'checkpoint:shop/web/envoy']);

    await items.filter({ hasText: 'shop/web/app' }).click();
    const details = page.locator('#details');
    await expect.poll(() => details.innerText()).toContain('Container');
    const text = await details.innerText();
    expect(text).toContain('shop/web/app');
    expect(text).toContain('worker-7');
    expect(text).not.toMatch(/^etcd/m);
    expect(await page.locator('#no-restore').innerText()).toMatch(/restored as an OCI image .*reshifter restore \S+ --image-archive FILE/);
    expect(await details.locator('.stats').innerText()).toContain('A container checkpoint');
    expect(errors).toEqual([]);
  });
});
