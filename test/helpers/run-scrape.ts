import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JobView } from '../../src/core/jobs.js';
import { runDuring } from './background-run.js';
import { runCli } from './cli.js';
import { startEtcd } from './etcd.js';
import { freePort } from './ports.js';
import { startPushgateway } from './pushgateway.js';

/** The schedule `run` is started with: the alerts' backup period (6 hours) in cron. */
export const SCRAPE_SCHEDULE = '0 */6 * * *';
const TOKEN = 'scrape-test-token-7a6b5c4d3e';

/**
 * A real /metrics page of `reshifter run` (the built CLI against a real etcd) that has been through every outcome
 * the alerts and the dashboard look at: a key dump (keys), a restore of it, a snapshot after which retention
 * (RS_RETENTION_KEEP_LAST=1) deleted the dump, and a failed backup once etcd was gone. Returns the page's text.
 */
export async function scrapeRun(): Promise<string> {
  const etcd = await startEtcd();
  const work = await mkdtemp(join(tmpdir(), 'rs-scrape-'));
  try {
    await etcd.ctl(['put', '/registry/namespaces/default', '{"kind":"Namespace"}']);
    const port = await freePort();
    const base = `http://127.0.0.1:${port}/api/v1`;
    const headers = { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' };
    const job = async (path: string, body: unknown): Promise<JobView> => {
      const res = await fetch(`${base}/${path}`, { method: 'POST', headers, body: JSON.stringify(body) });
      if (res.status !== 202) throw new Error(`POST ${path}: ${res.status} ${await res.text()}`);
      const { id } = (await res.json()) as JobView;
      for (;;) {
        const view = (await (await fetch(`${base}/jobs/${id}`, { headers })).json()) as JobView;
        if (view.state === 'succeeded' || view.state === 'failed') return view;
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    let page = '';
    const env = {
      RS_ETCD_ENDPOINTS: etcd.endpoint, RS_BACKUP_DIR: work, RS_SCHEDULE: SCRAPE_SCHEDULE, RS_HTTP_PORT: String(port),
      RS_API_TOKEN: TOKEN, RS_RETENTION_KEEP_LAST: '1', RS_CLUSTER_NAME: 'scrape',
    };
    const res = await runDuring(env, { msg: 'scheduler started', timeoutMs: 120_000 }, async () => {
      const steps: Array<[string, unknown, JobView['state']]> = [
        ['backups', { strategy: 'raw' }, 'succeeded'],
        ['restores', { backupId: 'latest', skipExisting: true }, 'succeeded'],
        ['backups', { strategy: 'snapshot' }, 'succeeded'],
      ];
      for (const [path, body, want] of steps) {
        const view = await job(path, body);
        if (view.state !== want) throw new Error(`${path} ${JSON.stringify(body)}: ${view.state} ${view.error ?? ''}`);
      }
      await etcd.stop();
      const failed = await job('backups', { strategy: 'snapshot' });
      if (failed.state !== 'failed') throw new Error(`a backup without etcd ended ${failed.state}`);
      page = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    });
    if (!page) throw new Error(`run exited before the scrape (code ${res.code}): ${res.stderr.slice(-2000)}`);
    return page;
  } finally {
    await etcd.stop();
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * The /metrics page of a `reshifter run` just started on a store that holds no backup (a fresh install; a restart
 * while the store cannot be listed shows the same): no backup is due yet, none has been made.
 */
export async function scrapeFreshRun(): Promise<string> {
  const work = await mkdtemp(join(tmpdir(), 'rs-scrape-fresh-'));
  try {
    const port = await freePort();
    let page = '';
    const env = {
      RS_ETCD_ENDPOINTS: `http://127.0.0.1:${await freePort()}`, RS_BACKUP_DIR: work, RS_SCHEDULE: SCRAPE_SCHEDULE,
      RS_HTTP_PORT: String(port), RS_CLUSTER_NAME: 'scrape',
    };
    const res = await runDuring(env, { msg: 'scheduler started', timeoutMs: 60_000 }, async () => {
      page = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    });
    if (!page) throw new Error(`run exited before the scrape (code ${res.code}): ${res.stderr.slice(-2000)}`);
    return page;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * What a real Pushgateway holds (its own /metrics page, the reshifter series only) after the first one-off `backup`
 * of cluster `prod` ever, which failed: etcd did not answer.
 */
export async function scrapeFirstFailedPush(): Promise<string> {
  const gw = await startPushgateway();
  const work = await mkdtemp(join(tmpdir(), 'rs-scrape-push-'));
  try {
    const env = {
      RS_ETCD_ENDPOINTS: `http://127.0.0.1:${await freePort()}`, RS_ETCD_TIMEOUT: '2s', RS_BACKUP_DIR: work,
      RS_PUSHGATEWAY_URL: gw.url, RS_CLUSTER_NAME: 'prod',
    };
    const res = await runCli(['backup'], env);
    if (res.code !== 1 || !res.stderr.includes('metrics pushed')) throw new Error(`the failed backup: ${res.code} ${res.stderr.slice(-2000)}`);
    const page = await (await fetch(`${gw.url}/metrics`)).text();
    return page.split('\n').filter((l) => l.startsWith('reshifter_')).join('\n');
  } finally {
    await gw.stop();
    await rm(work, { recursive: true, force: true });
  }
}

/** One sample of a Prometheus text page. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text exposition format (the subset prom-client writes: no timestamps, escaped quotes). */
export function parseSamples(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}
