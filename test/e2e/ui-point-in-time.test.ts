import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import { startApi, type TestApi } from '../helpers/api.js';
import { historyOf, revisionOf, storeSegmentOf, valuesAt } from '../helpers/delta-chain.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { runInProcess } from '../helpers/in-process.js';
import { keyspace, values } from '../helpers/keyspace.js';

/**
 * The web UI's point-in-time restore in a real headless Chromium: a key dump with the changes recorded after it (two
 * phases a couple of seconds apart) shows its chain (base and segments over time), and a restore to a moment between
 * the phases is planned first (dry run: nothing written) and then confirmed; the etcd then holds exactly what the
 * source held at the last revision before that moment (etcd's history is the oracle).
 */
const CHROMIUM = process.env.RS_CHROMIUM ?? '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
const TOKEN = 'ui-point-in-time-token-51f0';

let source: TestEtcd;
let target: TestEtcd;
let work: string;
let api: TestApi;
let context: BrowserContext;
let page: Page;
let base: Manifest;
const madeAt = new Map<number, number>();
let firstPhaseEnd: number;
let moment: number;

describe.skipIf(!hasChromium)('point-in-time restore in the web UI', () => {
  beforeAll(async () => {
    [source, target] = await Promise.all([startEtcd(), startEtcd()]);
    work = await mkdtemp(join(tmpdir(), 'rs-ui-pitr-'));
    const env = { RS_ETCD_ENDPOINTS: source.endpoint, RS_BACKUP_DIR: join(work, 'store'), RS_CLUSTER_NAME: 'ui-pitr' };
    const client = new Etcd3({ hosts: source.endpoint });
    for (let i = 0; i < 5; i++) await client.put(`/registry/configmaps/app/cm-${i}`).value(`base ${i}`);
    const res = await runInProcess(['backup', '--strategy', 'raw', '--json'], env);
    expect(res.stderr).toBe('');
    base = JSON.parse(res.stdout) as Manifest;
    const note = (r: { header: { revision: string } }) => madeAt.set(Number(r.header.revision), Date.now());
    for (let i = 0; i < 5; i++) note(await client.put(`/registry/configmaps/app/cm-${i}`).value(`first ${i}`).exec());
    note(await client.delete().key('/registry/configmaps/app/cm-4').exec());
    firstPhaseEnd = await revisionOf(source);
    await new Promise((r) => setTimeout(r, 2100));
    moment = Date.now() - 1000;
    for (let i = 0; i < 5; i++) note(await client.put(`/registry/configmaps/app/cm-${i}`).value(`second ${i}`).exec());
    client.close();
    const last = await revisionOf(source);
    const events = await historyOf(source.endpoint, base.etcd!.revision + 1, last, (rev) => madeAt.get(rev)!, ['/registry']);
    await storeSegmentOf(env, { base, fromRevision: base.etcd!.revision + 1, toRevision: firstPhaseEnd, events });
    await storeSegmentOf(env, { base, fromRevision: firstPhaseEnd + 1, toRevision: last, events });
    api = await startApi({ ...env, RS_ETCD_ENDPOINTS: target.endpoint, RS_API_TOKEN: TOKEN });

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
    await Promise.all([source?.stop(), target?.stop()]);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it("shows the backup's chain and restores to a chosen moment: the plan first, then the restore", async () => {
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(api.url);
    await page.getByLabel('API token').fill(TOKEN);
    await page.getByRole('button', { name: 'Use token' }).click();
    await page.locator('ol.timeline button.backup-item', { hasText: 'raw' }).first().click();
    await expect.poll(() => page.locator('#chain-summary').innerText()).toMatch(new RegExp(`^Base at revision ${base.etcd!.revision} and 2 segments: restorable to any revision from ${base.etcd!.revision} to \\d+`));
    expect(await page.locator('.chain table tbody tr').count()).toBe(2);
    const local = new Date(moment - new Date(moment).getTimezoneOffset() * 60_000).toISOString().slice(0, 19);
    await page.getByLabel(/Restore to the moment/).fill(local);
    await page.getByRole('button', { name: 'Plan restore (dry run)' }).click();
    await expect.poll(() => page.locator('#point-summary').innerText()).toMatch(new RegExp(`^The state at revision ${firstPhaseEnd} .*Would delete 0 keys`));
    expect(await page.locator('#plan-summary').innerText()).toMatch(/^Dry run: 4 to create, 0 to update/);
    expect(values(await keyspace(target))).toEqual(new Map());
    await page.getByRole('button', { name: 'Restore 4 keys into etcd' }).click();
    await expect.poll(() => page.locator('.restore-result').innerText()).toMatch(new RegExp(`^Restored 4 keys and deleted 0 \\(the state at revision ${firstPhaseEnd}\\)`));
    expect(values(await keyspace(target))).toEqual(await valuesAt(source, firstPhaseEnd));
    expect(errors).toEqual([]);
  }, 60_000);
});
