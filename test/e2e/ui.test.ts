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
import type { JobView } from '../../src/core/jobs.js';
import { loadDataset } from '../../src/demo/load-dataset.js';
import { sampleDataset } from '../../src/demo/sample-data.js';
import { startApi, type TestApi } from '../helpers/api.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { loadBigValues, portOf } from '../helpers/faults.js';
import { freePort } from '../helpers/ports.js';
import { runInProcess } from '../helpers/in-process.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

/**
 * The web UI in a real headless Chromium (Debian's `chromium`, driven by playwright-core), served by the built CLI's
 * `run` without a schedule: loading, the token, the backups and their chart (a series per strategy), a backup's
 * details and stats, a diff down to the fields of changed objects (a Secret's without values), restores of a key
 * dump and of a snapshot planned (dry run) and then confirmed, an empty plan that offers nothing to confirm, none
 * offered for a listing, a download and a delete; and a running snapshot's progress (bytes, percent, rate, time
 * left), from a second etcd of big values read through a throttling proxy. With RS_UPDATE_SCREENSHOT=1 it also writes
 * docs/ui.png, docs/ui-field-diff.png and docs/ui-backup-progress.png.
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
const FIELD_DIFF_SCREENSHOT = new URL('../../docs/ui-field-diff.png', import.meta.url).pathname;
const PROGRESS_SCREENSHOT = new URL('../../docs/ui-backup-progress.png', import.meta.url).pathname;

let etcd: TestEtcd;
let work: string;
let server: ChildProcess;
let url: string;
/** The main `run`'s log so far. */
let serverLog: () => string = () => '';
const serverLogs: Record<number, string> = {};
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

/** Starts the built CLI's `run` (no schedule) and waits until it serves; its log collects in serverLogs[pid]. */
async function startRun(env: Record<string, string>): Promise<{ url: string; child: ChildProcess; log: () => string }> {
  const port = await freePort();
  const child = spawn(process.execPath, [MAIN, 'run'], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LOG_LEVEL: 'debug', RS_HTTP_PORT: String(port), ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const pid = child.pid!;
  serverLogs[pid] = '';
  child.stderr!.on('data', (d: Buffer) => (serverLogs[pid] += d.toString()));
  const log = () => serverLogs[pid]!;
  const deadline = Date.now() + 20_000;
  while (!log().includes('serving without a schedule')) {
    if (child.exitCode !== null) throw new Error(`run exited with ${child.exitCode}: ${log()}`);
    if (Date.now() > deadline) throw new Error(`run did not start: ${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url: `http://127.0.0.1:${port}`, child, log };
}

async function stopRun(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

// JSON objects, as custom resources and objects written by clients that ask for JSON storage are kept: the diff
// names their changed fields. The Secret's values must never reach the page.
const CONFIG_KEY = '/registry/configmaps/team-1/app-config';
const SECRET_KEY = '/registry/secrets/team-1/api-key';
const SECRET_VALUES = ['c2VjcmV0LW9sZC12YWx1ZQ==', 'c2VjcmV0LW5ldy12YWx1ZQ==', 'aHVudGVyMg=='];
const configMap = (data: Record<string, string>) =>
  JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app-config', namespace: 'team-1', uid: 'c0nf-1', labels: { app: 'shop' } }, data });
const secret = (data: Record<string, string>) =>
  JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'api-key', namespace: 'team-1', uid: 's3cr-1' }, type: 'Opaque', data });

describe.skipIf(!hasChromium)('the web UI in Chromium', () => {
  beforeAll(async () => {
    etcd = await startEtcd();
    work = await mkdtemp(join(tmpdir(), 'rs-ui-'));
    const client = new Etcd3({ hosts: etcd.endpoint });
    await loadDataset(client, sampleDataset({ namespaces: 3, podsPerNamespace: 4, podSpecBytes: 100 }));
    await client.put(CONFIG_KEY).value(configMap({ 'log-level': 'info', replicas: '2', 'feature.flags': 'a,b' }));
    await client.put(SECRET_KEY).value(secret({ token: SECRET_VALUES[0]!, user: SECRET_VALUES[2]! }));
    env = { RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: join(work, 'store'), RS_CLUSTER_NAME: 'prod-eu-1' };
    // A history to look at: a snapshot, a key dump, then a change and two more key dumps.
    for (const strategy of ['snapshot', 'raw']) expect((await runInProcess(['backup', '--strategy', strategy], env)).code).toBe(0);
    await client.put('/registry/deployments/team-1/api').value('new');
    await client.put('/registry/configmaps/team-2/settings').value('x'.repeat(20_000));
    await client.put(CONFIG_KEY).value(configMap({ 'log-level': 'debug', replicas: '2', 'feature.flags': 'a,b,c', owner: 'team-1' }));
    await client.put(SECRET_KEY).value(secret({ token: SECRET_VALUES[1]!, user: SECRET_VALUES[2]! }));
    expect((await runInProcess(['backup', '--strategy', 'raw'], env)).code).toBe(0);
    await client.delete().key('/registry/pods/default/web-0002');
    expect((await runInProcess(['backup', '--strategy', 'raw'], env)).code).toBe(0);
    client.close();

    const run = await startRun({ ...env, RS_API_TOKEN: TOKEN });
    url = run.url;
    server = run.child;
    serverLog = run.log;
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
    await stopRun(server);
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
    const chart = page.locator('#chart svg.chart-svg');
    expect(await chart.locator('rect.bar').count()).toBe(4);
    expect(await chart.locator('.keys-dot').count()).toBe(3);
    expect(await chart.locator('desc').textContent()).toMatch(/^4 backups from .*, 2 series: snapshot \(1, .*\); raw \(3, up to .*, up to \d+ keys\)\.$/);
    expect(errors).toEqual([]);
  });

  it('draws one chart series per strategy, each with its colour, marker and legend entry', async () => {
    const chart = page.locator('#chart svg.chart-svg');
    expect(await chart.locator('g.series').evaluateAll((gs) => gs.map((g) => `${g.getAttribute('data-series')}:${g.getAttribute('class')}`))).toEqual([
      'snapshot:series series-0',
      'raw:series series-1',
    ]);
    // The snapshot counts no keys: a bar and no line; the three key dumps: three bars, one line through three markers.
    const snapshot = chart.locator('g.series[data-series="snapshot"]');
    const raw = chart.locator('g.series[data-series="raw"]');
    expect([await snapshot.locator('rect.bar').count(), await snapshot.locator('.keys-dot').count(), await snapshot.locator('polyline').count()]).toEqual([1, 0, 0]);
    expect([await raw.locator('rect.bar').count(), await raw.locator('.keys-dot').count(), await raw.locator('polyline.keys-line').count()]).toEqual([3, 3, 1]);
    // Colours come from the series: two series, two fills.
    const fills = await chart.locator('rect.bar').evaluateAll((bars) => {
      const style = globalThis as unknown as { getComputedStyle(e: unknown): { fill: string } };
      return [...new Set(bars.map((b) => style.getComputedStyle(b).fill))];
    });
    expect(fills).toHaveLength(2);
    expect(await page.locator('#chart .legend .legend-item').allInnerTexts()).toEqual(['snapshot (1)', 'raw (3)']);
    expect(await page.locator('#cluster').innerText()).toBe('cluster prod-eu-1');
  });

  it('lists the clusters of the store, this one marked, with its newest backup', async () => {
    const rows = page.locator('#clusters tbody tr');
    await expect.poll(() => rows.count()).toBe(1);
    const cells = await rows.first().locator('th, td').allInnerTexts();
    expect(cells[0]).toBe('prod-eu-1 (this cluster)');
    expect(cells[1]).toBe('4');
    expect(cells[4]).toMatch(/ago$/);
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
    // As the CLI says a duration: a small dump took milliseconds, not "0.0 s".
    expect(await page.locator('#details .manifest').innerText()).toMatch(/Took\s+(<1ms|\d+ms|\d+(\.\d)?s)(\n|$)/);
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
    await expect.poll(() => page.locator('#diff-summary').innerText()).toMatch(/^2 added, 1 removed, 2 changed/);
  });

  it("shows which fields of a changed object changed, and a Secret's field names without their values", async () => {
    const objects = page.locator('#diff-result ul.objects');
    const config = objects.locator('li.object', { hasText: CONFIG_KEY });
    await expect.poll(() => config.locator('li.field-change').allInnerTexts()).toEqual([
      '~ data.log-level "info" → "debug"',
      '~ data["feature.flags"] "a,b" → "a,b,c"',
      '+ data.owner "team-1"',
    ]);
    const secretItem = objects.locator('li.object', { hasText: SECRET_KEY });
    expect(await secretItem.locator('li.field-change').allInnerTexts()).toEqual(['~ data.token']);
    expect(await secretItem.locator('.field-note').innerText()).toMatch(/^Values not shown: this object holds credentials/);
    // Neither in the page nor in what the page was sent.
    const html = await page.content();
    const body = await (await fetch(`${url}/api/v1/diff?from=${await page.inputValue('#diff-from')}&to=${await page.inputValue('#diff-to')}&limit=200`, { headers: { Authorization: `Bearer ${TOKEN}` } })).text();
    for (const v of SECRET_VALUES) {
      expect(html).not.toContain(v);
      expect(body).not.toContain(v);
    }
    expect(body).toContain('"path":"data.token"');
    // Read aloud as words, not symbols.
    expect(await config.getByRole('img', { name: 'to' }).count()).toBe(2);
    expect(await config.getByRole('img', { name: 'added' }).count()).toBe(1);
    if (process.env.RS_UPDATE_SCREENSHOT) {
      await page.locator('#diff-result details').evaluate((d) => ((d as unknown as { open: boolean }).open = true));
      await page.locator('section[aria-labelledby="diff-heading"]').screenshot({ path: FIELD_DIFF_SCREENSHOT });
    }
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
      // Worded as the CLI's restore: "in 40ms", a rate only from a second up.
      await expect.poll(() => page.locator('.restore-result').innerText()).toMatch(/^Restored 1 key in (<1ms|\d+ms|\d+(\.\d)?s \(\d+ keys\/s\))\.$/);
      expect(await client.get('/registry/configmaps/team-2/settings').string()).toBe('x'.repeat(20_000));
      // Filtered out by "Only namespaces".
      expect(await client.get('/registry/configmaps/team-1/web').string()).toBeNull();
      await expect.poll(() => page.locator('#jobs table').innerText(), { timeout: 10_000 }).toMatch(/restore \S+\s+succeeded/);
    } finally {
      client.close();
    }
  });

  it('offers nothing to confirm for a plan that writes nothing, and says why', async () => {
    // team-2 is as the newest key dump has it since the restore above: every key there is unchanged.
    await page.locator('ol.timeline button.backup-item').first().click();
    await page.getByLabel('Only namespaces').fill('team-2');
    await page.getByRole('button', { name: 'Plan restore (dry run)' }).click();
    await expect.poll(() => page.locator('#plan-summary').innerText()).toMatch(/^Dry run: 0 to create, 0 to update, \d+ unchanged/);
    const confirm = page.locator('#confirm-restore');
    expect(await confirm.isDisabled()).toBe(true);
    expect(await confirm.getAttribute('aria-describedby')).toBe('plan-empty');
    expect(await page.locator('#plan-empty').innerText()).toMatch(/^Nothing to restore: every selected key is already in etcd with the same value/);
    // The focus is where it can act, not lost on a disabled button.
    expect(await page.evaluate('document.activeElement.id')).toBe('cancel-restore');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.locator('.restore-result').innerText()).toBe('Nothing to restore; nothing was written.');
    expect(await page.evaluate('document.activeElement.id')).toBe('plan-restore');
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

  it('offers only snapshots and key dumps to compare: a render listing holds no values', async () => {
    const listed = await page.locator('ol.timeline button.backup-item').count();
    expect(listed).toBe(5);
    for (const select of ['#diff-from', '#diff-to']) {
      const options = await page.locator(`${select} option`).allInnerTexts();
      expect(options).toHaveLength(4);
      expect(options.filter((o) => /render/.test(o))).toEqual([]);
      expect(options.filter((o) => /snapshot$/.test(o))).toHaveLength(1);
    }
    // Newest comparable first: "to" is the newest key dump, not the newer listing.
    expect(await page.locator('#diff-to option:checked').innerText()).toMatch(/ · raw$/);
  });

  it('wraps long hashes and keys on a narrow screen instead of widening the page', async () => {
    await page.setViewportSize({ width: 380, height: 800 });
    try {
      await page.locator('ol.timeline button.backup-item').nth(1).click();
      await page.getByRole('button', { name: 'Verify', exact: true }).click();
      await expect.poll(() => page.locator('.verify-result').innerText()).toMatch(/All checks passed/);
      const m = (await manifestOf(await page.locator('#details h3').innerText()))!;
      expect(await page.locator('.verify-result').innerText()).toContain(m.sha256);
      const overflow = await page.evaluate(
        // An element sticking out of the page, or whose text sticks out of it (a hash is one long word).
        '[document.documentElement.scrollWidth, document.documentElement.clientWidth, [...document.querySelectorAll("#details *, #jobs *, #diff-result *")].filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1 || (e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1)).map((e) => e.tagName + "." + e.className).slice(0, 12)]',
      );
      const [scrollWidth, clientWidth, wide] = overflow as [number, number, string[]];
      expect(wide).toEqual([]);
      expect(scrollWidth).toBeLessThanOrEqual(clientWidth);
    } finally {
      await page.setViewportSize({ width: 1280, height: 900 });
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
    // The only render listing is the newest of its series: said before it goes (the confirm is the --force).
    expect(await page.locator('#delete-newest').innerText()).toContain('newest backup of series render');
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
    expect(serverLog()).toContain('"msg":"api request"');
    expect(serverLog()).not.toContain(TOKEN);
  });
  it("shows a running snapshot's progress: bytes, percent, rate and time left", async () => {
    // A second etcd of ~48 MB of random values, read through a proxy that sends 8 MiB a second: backups of ~6 s.
    const MiB = 1024 * 1024;
    const big = await startEtcd();
    let proxy: TcpProxy | undefined;
    let run: Awaited<ReturnType<typeof startRun>> | undefined;
    try {
      await loadBigValues(big.endpoint, 96);
      // Two earlier backups (straight from etcd) for the chart to show beside the running one.
      const bigEnv = { RS_ETCD_ENDPOINTS: big.endpoint, RS_BACKUP_DIR: join(work, 'big-store'), RS_CLUSTER_NAME: 'big' };
      for (const strategy of ['snapshot', 'raw']) expect((await runInProcess(['backup', '--strategy', strategy], bigEnv)).code).toBe(0);
      proxy = await startTcpProxy(portOf(big.endpoint), { rate: 8 * MiB });
      run = await startRun({ RS_ETCD_ENDPOINTS: `http://${proxy.address}`, RS_BACKUP_DIR: join(work, 'big-store'), RS_CLUSTER_NAME: 'big', RS_BACKUP_STRATEGY: 'snapshot', RS_API_TOKEN: TOKEN });
      const explore = (await (await fetch(`${run.url}/api/v1/explore`, { headers: { Authorization: `Bearer ${TOKEN}` } })).json()) as { dbSizeBytes: number };
      expect(explore.dbSizeBytes).toBeGreaterThan(40 * MiB);

      await page.goto(run.url);
      await page.getByLabel('API token').fill(TOKEN);
      await page.getByRole('button', { name: 'Use token' }).click();
      await expect.poll(() => page.locator('ol.timeline button.backup-item').count()).toBe(2);
      await page.getByRole('button', { name: 'Back up now' }).click();
      const text = page.locator('#backup-progress-text');
      const full = /^(\d+(?:\.\d)?) MiB of (\d+\.\d) MiB · (\d+)% · \d+(?:\.\d)? MiB\/s · about \d+ (?:s|min) left$/;
      await expect.poll(() => text.innerText().catch(() => ''), { timeout: 30_000 }).toMatch(full);
      const shown = (await text.innerText()).match(full)!;
      // The total is the database size etcd reported, as the job says it; the bar holds the percent shown.
      const jobs = (await (await fetch(`${run.url}/api/v1/jobs`, { headers: { Authorization: `Bearer ${TOKEN}` } })).json()) as JobView[];
      const job = jobs.find((j) => j.kind === 'backup')!;
      expect(job.progress.totalBytes).toBe(explore.dbSizeBytes);
      expect(shown[2]).toBe((explore.dbSizeBytes / MiB).toFixed(1));
      const bar = page.locator('#backup-progress-bar');
      expect(await bar.getAttribute('max')).toBe('100');
      expect(await bar.getAttribute('aria-valuetext')).toMatch(/^[\d.]+ MiB of [\d.]+ MiB, \d+%, [\d.]+ MiB\/s, about \d+ (s|min) left$/);
      expect(Number(await bar.getAttribute('value'))).toBeLessThan(100);
      // The jobs table says it too.
      await expect.poll(() => page.locator('#jobs table').innerText(), { timeout: 10_000 }).toMatch(/backup\s+running\s+.*MiB of [\d.]+ MiB, \d+%, [\d.]+ MiB\/s, about/);
      if (process.env.RS_UPDATE_SCREENSHOT) {
        // A third of the way in, the rate has settled.
        await expect.poll(async () => Number((await text.innerText().catch(() => '')).match(full)?.[3] ?? 100), { timeout: 20_000 }).toBeGreaterThanOrEqual(30);
        await page.locator('section[aria-labelledby="backups-heading"]').screenshot({ path: PROGRESS_SCREENSHOT });
      }

      await expect.poll(() => page.locator('#status').innerText(), { timeout: 60_000 }).toMatch(/^Backup \S+ completed/);
      expect(await page.locator('#backup-progress').isHidden()).toBe(true);
      const [m] = (await (await fetch(`${run.url}/api/v1/backups`, { headers: { Authorization: `Bearer ${TOKEN}` } })).json()) as Manifest[];
      // What was read is the database etcd reported, and its 32-byte sha256.
      expect(m!.rawSizeBytes).toBe(explore.dbSizeBytes + 32);

      // A backup started elsewhere (the schedule, curl) shows its progress too, and joins the list when done.
      const post = await fetch(`${run.url}/api/v1/backups`, { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}` } });
      expect(post.status).toBe(202);
      await page.getByRole('button', { name: 'Refresh' }).click();
      await expect.poll(() => text.innerText().catch(() => ''), { timeout: 30_000 }).toMatch(full);
      await expect.poll(() => page.locator('ol.timeline button.backup-item').count(), { timeout: 60_000 }).toBe(4);
      expect(await page.locator('#backup-progress').isHidden()).toBe(true);
    } finally {
      await stopRun(run?.child);
      await proxy?.close();
      await big.stop();
    }
  });
});
