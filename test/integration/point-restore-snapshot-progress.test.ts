import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { createLogger } from '../../src/log.js';
import { saveReplaySnapshot } from '../../src/ops/restore-point-data-dir.js';
import { dbSizeOver, startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { loadBigValues } from '../helpers/faults.js';

/**
 * Before: `restore --to ... --data-dir` logged the replay's progress, then nothing while the temporary etcd's snapshot
 * was taken (the whole database, base and replayed changes: a minute and more for gigabytes), then the restore's. It
 * now reports that snapshot's bytes, of the database's size, as `snapshot` progress. The etcd and its snapshot are
 * real; only the progress timer is faked, advanced 5 s at every turn of the event loop while the snapshot is taken.
 */
let etcd: TestEtcd;
let dir: string;

beforeAll(async () => {
  etcd = await startEtcd();
  dir = await mkdtemp(join(tmpdir(), 'rs-point-snapshot-progress-'));
  await loadBigValues(etcd.endpoint, 16, 256 * 1024);
  // The size the snapshot reports as its total is etcd's status of it, as of its last commit: once it counts the values.
  await dbSizeOver(etcd, 4 * 1024 * 1024);
});

afterAll(async () => {
  await Promise.all([etcd?.stop(), dir && rm(dir, { recursive: true, force: true })]);
});

it("the temporary etcd's snapshot reports its bytes as `snapshot` progress, of the database's size", async () => {
  const lines: Array<{ msg: string; what?: string; bytes?: number; total?: number }> = [];
  const log = createLogger('info', { write: (l: string) => void lines.push(JSON.parse(l) as (typeof lines)[number]) });
  const client = new Etcd3({ hosts: etcd.endpoint });
  const file = join(dir, 'final.db');
  const total = Number((await client.maintenance.status()).dbSize);
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
  try {
    let settled = false;
    const running = saveReplaySnapshot(client, file, log).finally(() => (settled = true));
    while (!settled) {
      vi.advanceTimersByTime(5000);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await running;
  } finally {
    vi.useRealTimers();
    client.close();
  }
  const size = (await stat(file)).size;
  expect(size).toBeGreaterThan(4 * 1024 * 1024);
  const progress = lines.filter((l) => l.msg === 'progress');
  expect(progress.length, JSON.stringify(lines)).toBeGreaterThan(0);
  expect(progress.every((p) => p.what === 'snapshot' && p.total === total && p.bytes! >= 0 && p.bytes! <= size)).toBe(true);
  // The bytes are the snapshot's as it is read: they grow, and some line has them (a count stuck at 0 passed before).
  const bytes = progress.map((p) => p.bytes!);
  expect(bytes).toEqual([...bytes].sort((a, b) => a - b));
  expect(bytes.at(-1)).toBeGreaterThan(0);
});
