import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import type { JobView } from '../../src/core/jobs.js';
import { startApi, type TestApi } from '../helpers/api.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { loadBigValues, portOf } from '../helpers/faults.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

/** A backup job's progress while it runs, as the API shows it: a key dump read slowly through a proxy. */
const TOKEN = 'api-progress-token-3b9e1d';
const MiB = 1024 * 1024;
let etcd: TestEtcd;
let proxy: TcpProxy;
let api: TestApi;
let work: string;

beforeAll(async () => {
  etcd = await startEtcd();
  await loadBigValues(etcd.endpoint, 32, 256 * 1024);
  // 8 MiB of values at 2 MiB/s: the dump takes about four seconds.
  proxy = await startTcpProxy(portOf(etcd.endpoint), { rate: 2 * MiB });
  work = await mkdtemp(join(tmpdir(), 'rs-api-progress-'));
  api = await startApi({ RS_ETCD_ENDPOINTS: `http://${proxy.address}`, RS_BACKUP_DIR: join(work, 'store'), RS_API_TOKEN: TOKEN });
});

afterAll(async () => {
  await api?.stop();
  await proxy?.close();
  await etcd?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

it('a running key-dump backup job reports the keys and bytes read so far, not 0 until it ends', async () => {
  const res = await api.call('/api/v1/backups', { method: 'POST', token: TOKEN, json: { strategy: 'raw' } });
  expect(res.status).toBe(202);
  const { id } = (await res.json()) as JobView;
  const seen: JobView[] = [];
  for (;;) {
    const job = (await (await api.call(`/api/v1/jobs/${id}`, { token: TOKEN })).json()) as JobView;
    if (job.state !== 'running' && job.state !== 'queued') break;
    if (job.state === 'running') seen.push(job);
    await new Promise((r) => setTimeout(r, 200));
  }
  const done = await api.waitJob(id, TOKEN);
  expect(done.state, done.error).toBe('succeeded');
  const manifest = done.result as Manifest;
  expect(done.progress.keys).toBe(manifest.keys);
  // Before: keys 0 on every look while the job ran (bytes counted up). Past the dump's header some keys are counted.
  // Not 'fewer than all keys while bytes fall short of the total': keys are counted as the dump is written, ahead of
  // the bytes still buffered on their way to the store, so a look at the end could see every key and not every byte.
  const pastHeader = seen.filter((j) => j.progress.bytes >= MiB);
  expect(pastHeader.length).toBeGreaterThan(0);
  expect(pastHeader.every((j) => j.progress.keys > 0)).toBe(true);
  // Counted as they are read, not only at the end: some look fell midway.
  expect(seen.some((j) => j.progress.keys > 0 && j.progress.keys < manifest.keys!)).toBe(true);
  const keys = seen.map((j) => j.progress.keys);
  expect(keys).toEqual([...keys].sort((a, b) => a - b));
}, 60_000);
