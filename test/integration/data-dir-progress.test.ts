import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { findRestoreTool, runSnapshotRestore } from '../../src/etcd/snapshot-restore-tool.js';
import { createLogger } from '../../src/log.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { loadBigValues } from '../helpers/faults.js';

/**
 * Before: `restore --data-dir` of a 3.8 GB snapshot logged nothing for the 40 s etcdctl took to write the data
 * directory (after the download and decode, which report theirs). It now reports the bytes of the database written
 * so far, of the snapshot's size, as `restore` progress. The restore is real (etcdctl or etcdutl on a real snapshot);
 * only the progress timer is faked, advanced 5 s at every turn of the event loop while the tool runs.
 */
let etcd: TestEtcd;
let dir: string;
let snapshot: string;

beforeAll(async () => {
  etcd = await startEtcd();
  dir = await mkdtemp(join(tmpdir(), 'rs-data-dir-progress-'));
  await loadBigValues(etcd.endpoint, 16, 256 * 1024);
  snapshot = join(dir, 'snap.db');
  await etcd.ctl(['snapshot', 'save', snapshot]);
});

afterAll(async () => {
  await Promise.all([etcd?.stop(), dir && rm(dir, { recursive: true, force: true })]);
});

it('a snapshot restored into a data directory reports the bytes of its database written as `restore` progress', async () => {
  const lines: Array<{ msg: string; what?: string; bytes?: number; total?: number }> = [];
  const log = createLogger('info', { write: (l: string) => void lines.push(JSON.parse(l) as (typeof lines)[number]) });
  const total = (await stat(snapshot)).size;
  const dataDir = join(dir, 'restored');
  const tool = await findRestoreTool();
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
  try {
    let settled = false;
    const running = runSnapshotRestore(tool, snapshot, { dataDir }, undefined, { log, total }).finally(() => (settled = true));
    while (!settled) {
      vi.advanceTimersByTime(5000);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await running;
  } finally {
    vi.useRealTimers();
  }
  expect(existsSync(join(dataDir, 'member', 'snap', 'db'))).toBe(true);
  const progress = lines.filter((l) => l.msg === 'progress');
  expect(progress.length, JSON.stringify(lines)).toBeGreaterThan(0);
  expect(progress.every((p) => p.what === 'restore' && p.total === total && p.bytes! >= 0 && p.bytes! <= total)).toBe(true);
});
