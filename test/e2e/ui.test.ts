import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import { loadDataset } from '../../src/demo/load-dataset.js';
import { sampleDataset } from '../../src/demo/sample-data.js';
import { startApi, type TestApi } from '../helpers/api.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { freePort } from '../helpers/ports.js';
import { runInProcess } from '../helpers/in-process.js';

/**
 * The web UI in a real headless Chromium (Debian's `chromium`, driven by playwright-core), served by the built CLI's
 * `run` without a schedule: loading, the token, the backups, a backup's details and stats, a diff, restores of a key
 * dump and of a snapshot planned (dry run) and then confirmed, none offered for a listing, a download and a delete.
 * With RS_UPDATE_SCREENSHOT=1 it also writes docs/ui.png.
 */
const CHROMIUM = process.env.RS_CHROMIUM ?? '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) {
  if (process.env.CI) throw new Error(`the web UI test needs Chromium at ${CHROMIUM}: scripts/install-deps.sh installs it`);
  console.warn(`skipping the web UI test: no Chromium at ${CHROMIUM} (install it with scripts/install-deps.sh)`);
}
const MAIN = new URL('../../dist/main.js', import.meta.url).pathname;
const TOKEN = 'ui-test-token-9c41d7e2b0';
const SCREENSHOT = new URL('../../docs/ui.png', import.meta.url).pathname;

let etcd: TestEtcd;
let work: string;
let server: ChildProcess;
let url: string;
let serverLog = '';
let context: BrowserContext;
let page: Page;
let empty: TestApi;
let env: Record<string, string>;

/** The manifest of a backup, or undefined when the API has none by that id (404). */
async function manifestOf(id: string): Promise<Manifest | undefined> {
  const res = await fetch(`${url}/api/v1/backups/${id}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  if (res.status === 404) return undefined;
  expect(res.status).toBe(200);
  return (await res.json()) as Manifest;
}

async function startRun(env: Record<string, string>): Promise<string> {
  const port = await freePort();
  server = spawn(process.execPath, [MAIN, 'run'], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LOG_LEVEL: 'debug', RS_HTTP_PORT: String(port), ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  server.stderr!.on('data', (d: Buffer) => (serverLog += d.toString()));
  const deadline = Date.now() + 20_000;
  while (!serverLog.includes('serving without a schedule')) {
    if (server.exitCode !== null) throw new Error(`run exited with ${server.exitCode}: ${serverLog}`);
    if (Date.now() > deadline) throw new Error(`run did not start: ${serverLog}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return `http://127.0.0.1:${port}`;
}

describe.skipIf(!hasChromium)('the web UI in Chromium', () => {
  beforeAll(async () => {
    etcd = await startEtcd();
    work = await mkdtemp(join(tmpdir(), 'rs-ui-'));
    const client = new Etcd3({ hosts: etcd.endpoint });
    await loadDataset(client, sampleDataset({ namespaces: 3, podsPerNamespace: 4, podSpecBytes: 100 }));
    env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: join(work, 'store'), RS_CLUSTER_NAME: 'prod-eu-1' };
    // A history to look at: a snapshot, a key dump, then a change and two more key dumps.
    for (const strategy of ['snapshot', 'raw']) expect((await runInProcess(['backup', '--strategy', strategy], env)).code).toBe(0);
    await client.put('/registry/deployments/team-1/api').value('new');
    await client.put('/registry/configmaps/team-2/settings').value('x'.repeat(20_000));
    expect((await runInProcess(['backup', '--strategy', 'raw'], env)).code).toBe(0);
    await client.delete().key('/registry/pods/default/web-0002');
    expect((await runInProcess(['backup', '--strategy', 'raw'], env)).code).toBe(0);
    client.close();

    url = await startRun({ ...env, RS_API_TOKEN: TOKEN });
    await mkdir(join(work, 'empty'));
    empty = await startApi({ RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: join(work, 'empty') });

    const { chromium } = await import('playwright-core');
    context = await chromium.launchPersistentContext(await mkdtemp(join(tmpdir(), 'rs-chromium-')), {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1280, height: 900 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(20_000);
  });

  afterAll(async () => {
    await context?.close();
    await empty?.stop();
    if (server && server.exitCode === null) {
      const exited = new Promise((r) => server.once('exit', r));
      server.kill('SIGTERM');
      await exited;
    }
    await etcd?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('shows an empty store as empty', async () => {
    await page.goto(empty.url);
    await expect.poll(() => page.locator('#timeline').innerText()).toContain('No backups yet');
    expect(await page.locator('#chart').isHidden()).toBe(true);
  });

  it('asks for the token, then shows the backups as a timeline and a chart', async () => {
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url);
    await expect.poll(() => page.locator('#timeline [role=alert]').innerText()).toContain('needs its API token');
    await page.getByLabel('API token').fill(TOKEN);
    await page.getByRole('button', { name: 'Use token' }).click();
    const items = page.locator('ol.timeline button.backup-item');
    await expect.poll(() => items.count()).toBe(4);
    expect(await items.first().innerText()).toMatch(/raw/);
    expect(await items.last().innerText()).toMatch(/snapshot/);
    expect(await page.locator('#chart svg rect.bar').count()).toBe(4);
    expect(await page.locator('#chart svg circle.keys-dot').count()).toBe(3);
    expect(await page.locator('#chart svg desc').textContent()).toMatch(/^4 backups from/);
    expect(await page.locator('#cluster').innerText()).toBe('cluster prod-eu-1');
    expect(errors).toEqual([]);
  });

  it('is usable with the keyboard, and every control has a label', async () => {
    // Runs in the page; this file is compiled without the DOM's types, hence the narrow cast.
    const unlabelled = await page
      .locator('input, select')
      .evaluateAll((els) => els.filter((e) => (e as unknown as { labels: { length: number } }).labels.length === 0 && !e.getAttribute('aria-label')).map((e) => e.id));
    expect(unlabelled).toEqual([]);
    const second = page.locator('ol.timeline button.backup-item').nth(1);
    await second.focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => second.getAttribute('aria-pressed')).toBe('true');
    await expect.poll(() => page.locator('#details h3').innerText()).toMatch(/^\d{8}T\d{6}\.\d{3}Z-[0-9a-f]{6}$/);
  });

  it("shows a backup's manifest and its keys by namespace and resource", async () => {
    await page.locator('ol.timeline button.backup-item').first().click();
    await expect.poll(() => page.locator('#details .manifest').innerText()).toMatch(/Strategy\s+raw/);
    const byNamespace = page.locator('#details table', { hasText: 'By namespace' });
    await expect.poll(() => byNamespace.innerText()).toContain('team-2');
    expect(await page.locator('#details table', { hasText: 'By resource' }).innerText()).toContain('pods');
  });

  it('compares two backups', async () => {
    await page.getByRole('button', { name: 'Compare' }).click();
    await expect.poll(() => page.locator('#diff-summary').innerText()).toMatch(/^0 added, 1 removed, 0 changed/);
    expect(await page.locator('#diff-result table').innerText()).toMatch(/pods\s+default\s+0\s+1\s+0/);
    await page.selectOption('#diff-from', { index: 3 });
    await page.getByRole('button', { name: 'Compare' }).click();
    await expect.poll(() => page.locator('#diff-summary').innerText()).toMatch(/^2 added, 1 removed, 0 changed/);
  });

  it('restores in two steps: the dry-run plan writes nothing, confirming writes', async () => {
    const client = new Etcd3({ hosts: etcd.endpoint });
    try {
      await client.delete().key('/registry/configmaps/team-2/settings');
      await client.delete().key('/registry/configmaps/team-1/web');
      await page.locator('ol.timeline button.backup-item').first().click();
      await page.getByLabel('Only namespaces').fill('team-2');
      await page.getByRole('button', { name: 'Plan restore (dry run)' }).click();
      await expect.poll(() => page.locator('#plan-summary').innerText()).toMatch(/^Dry run: 1 to create, 0 to update/);
      expect(await page.locator('.restore-result table').innerText()).toMatch(/configmaps\s+1\s+0/);
      expect(await client.get('/registry/configmaps/team-2/settings').string()).toBeNull();
      if (process.env.RS_UPDATE_SCREENSHOT) await page.screenshot({ path: SCREENSHOT, fullPage: true });
      const confirm = page.getByRole('button', { name: 'Restore 1 key into etcd' });
      expect(await page.evaluate('document.activeElement.id')).toBe('confirm-restore');
      await confirm.click();
      await expect.poll(() => page.locator('.restore-result').innerText()).toMatch(/^Restored 1 key in/);
      expect(await client.get('/registry/configmaps/team-2/settings').string()).toBe('x'.repeat(20_000));
      // Filtered out by "Only namespaces".
      expect(await client.get('/registry/configmaps/team-1/web').string()).toBeNull();
      await expect.poll(() => page.locator('#jobs table').innerText()).toMatch(/restore \S+\s+succeeded/);
    } finally {
      client.close();
    }
  });

  it("restores a snapshot's keys the same way, and offers no restore for a render listing", async () => {
    expect((await runInProcess(['backup', '--strategy', 'render'], env)).code).toBe(0);
    await page.getByRole('button', { name: 'Refresh' }).click();
    const items = page.locator('ol.timeline button.backup-item');
    await expect.poll(() => items.count()).toBe(5);
    await items.first().click();
    await expect.poll(() => page.locator('#details .manifest').innerText()).toMatch(/Strategy\s+render/);
    expect(await page.locator('#no-restore').innerText()).toMatch(/listing holds no values, so it cannot be restored/);
    expect(await page.locator('#restore-form').count()).toBe(0);
    expect(await page.getByRole('button', { name: /^Plan restore/ }).count()).toBe(0);

    const client = new Etcd3({ hosts: etcd.endpoint });
    try {
      const key = '/registry/deployments/team-2/web';
      const value = await client.get(key).buffer();
      expect(value).not.toBeNull();
      await client.delete().key(key);
      await items.last().click();
      await expect.poll(() => page.locator('#details .manifest').innerText()).toMatch(/Strategy\s+snapshot/);
      expect(await page.locator('.restore').innerText()).toContain('--keys');
      await page.getByLabel('Only namespaces').fill('team-2');
      await page.getByRole('button', { name: 'Plan restore (dry run)' }).click();
      await expect.poll(() => page.locator('#plan-summary').innerText()).toMatch(/^Dry run: 1 to create, 0 to update/);
      expect(await page.locator('.restore-result table').innerText()).toMatch(/deployments\s+1\s+0/);
      expect(await client.get(key).buffer()).toBeNull();
      await page.getByRole('button', { name: 'Restore 1 key into etcd' }).click();
      await expect.poll(() => page.locator('.restore-result').innerText()).toMatch(/^Restored 1 key in/);
      expect(await client.get(key).buffer()).toEqual(value);
    } finally {
      client.close();
    }
  });

  it('downloads a backup with the token: the saved bytes hash to the manifest\'s sha256', async () => {
    await page.locator('ol.timeline button.backup-item').nth(1).click();
    const id = await page.locator('#details h3').innerText();
    const m = (await manifestOf(id))!;
    expect(m.strategy).toBe('raw');
    const button = page.getByRole('button', { name: 'Download', exact: true });
    // Held by the test: the page shows it is busy, and cancelling stops it.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const artifact = `**/api/v1/backups/${id}/artifact`;
    await page.route(artifact, async (route) => {
      await held;
      await route.abort().catch(() => undefined);
    });
    await button.click();
    await expect.poll(() => page.locator('#download-progress').isVisible()).toBe(true);
    expect(await button.isDisabled()).toBe(true);
    expect(await page.locator('.download-result').getAttribute('aria-busy')).toBe('true');
    await page.getByRole('button', { name: 'Cancel download' }).click();
    await expect.poll(() => page.locator('.download-result').innerText()).toBe('Download cancelled.');
    expect(await page.evaluate('document.activeElement.id')).toBe('download');
    release();
    await page.unroute(artifact);

    const [download] = await Promise.all([page.waitForEvent('download'), button.click()]);
    expect(download.suggestedFilename()).toBe(m.artifact);
    const bytes = await readFile((await download.path())!);
    expect(bytes.length).toBe(m.sizeBytes);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(m.sha256);
    await expect.poll(() => page.locator('.download-result').innerText()).toMatch(new RegExp(`^Saved ${m.artifact.replace(/\./g, '\\.')} .*${m.sha256}`));
    expect(await button.isEnabled()).toBe(true);
  });

  it('deletes a backup after a confirm step: it leaves the list and the API', async () => {
    const items = page.locator('ol.timeline button.backup-item');
    await items.first().click();
    await expect.poll(() => page.locator('#details .manifest').innerText()).toMatch(/Strategy\s+render/);
    const id = await page.locator('#details h3').innerText();
    const deleteButton = page.getByRole('button', { name: 'Delete', exact: true });
    // Asking first, with the focus on the safe choice; cancelling deletes nothing.
    await deleteButton.click();
    expect(await page.getByRole('group', { name: new RegExp(`^Delete backup ${id}\\?`) }).isVisible()).toBe(true);
    expect(await page.evaluate('document.activeElement.id')).toBe('cancel-delete');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('.delete-result').innerText()).toBe('Nothing was deleted.');
    expect(await page.evaluate('document.activeElement.id')).toBe('delete');
    expect(await manifestOf(id)).toMatchObject({ id, strategy: 'render' });

    await deleteButton.click();
    await page.getByRole('button', { name: 'Yes, delete this backup' }).click();
    await expect.poll(() => page.locator('#status').innerText()).toBe(`Backup ${id} deleted.`);
    await expect.poll(() => items.count()).toBe(4);
    expect(await page.locator(`ol.timeline button[data-id="${id}"]`).count()).toBe(0);
    expect(await page.locator('#details').innerText()).toContain(`Backup ${id} was deleted.`);
    expect(await page.evaluate('document.activeElement.className')).toBe('backup-item');
    expect(await manifestOf(id)).toBeUndefined();
  });

  it('forgetting the token hides the restore form', async () => {
    await page.getByRole('button', { name: 'Forget token' }).click();
    await expect.poll(() => page.locator('#timeline').innerText()).toContain('needs its API token');
    await expect.poll(() => page.locator('#restore-form').count()).toBe(0);
    expect(serverLog).toContain('"msg":"api request"');
    expect(serverLog).not.toContain(TOKEN);
  });
});
