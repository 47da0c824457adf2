import type { ChildProcess } from 'node:child_process';
import { access, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Manifest } from '../../src/archive/manifest.js';
import type { DeltaEvent } from '../../src/core/delta-event.js';
import { runCli } from '../helpers/cli.js';
import { storeSegmentOf } from '../helpers/delta-chain.js';
import { startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { runInProcess } from '../helpers/in-process.js';

/**
 * `restore --to ... --data-dir` replays the recorded changes in a temporary etcd. When that etcd dies mid-replay (the
 * OOM killer, a terminal's Ctrl-C that reaches it before the restore hears its own), the restore failed with the
 * refused connection of its next request (`14 UNAVAILABLE: No connection established ... ECONNREFUSED`), naming
 * neither that etcd nor how it ended. It now says the temporary etcd was killed and by what, and that --data-dir was
 * not written. The replay is of 40000 changes, long enough to kill its etcd while it runs.
 */
let etcd: TestEtcd;
let work: string;
let base: Manifest;
const env = (extra: Record<string, string> = {}) => ({ RS_BACKUP_DIR: join(work, 'store'), RS_CLUSTER_NAME: 'killed', RS_ETCD_ENDPOINTS: etcd.endpoint, ...extra });

beforeAll(async () => {
  etcd = await startEtcd();
  work = await mkdtemp(join(tmpdir(), 'rs-replay-killed-'));
  await etcd.ctl(['put', '/registry/namespaces/default', 'ns']);
  const res = await runInProcess(['backup', '--json'], env());
  expect(res.code, res.stderr).toBe(0);
  base = JSON.parse(res.stdout) as Manifest;
  // A recording of 40000 puts, each of its own key: some 300 transactions to replay, seconds of work.
  const from = base.etcd!.revision + 1;
  const value = Buffer.alloc(1024, 'v');
  const events: DeltaEvent[] = Array.from({ length: 40_000 }, (_, i) => ({
    type: 'put',
    key: Buffer.from(`/registry/configmaps/replay/cm-${i}`),
    value,
    createRevision: from + i,
    modRevision: from + i,
    version: 1,
    observedAt: Date.now(),
  }));
  await storeSegmentOf(env(), { base, fromRevision: from, toRevision: from + events.length - 1, events });
}, 120_000);

afterAll(async () => {
  await Promise.all([etcd?.stop(), work && rm(work, { recursive: true, force: true })]);
});

/** The client URL of the serving temporary etcd whose command line mentions `text`, with its pid. */
async function replayEtcd(text: string): Promise<{ pid: number; url: string } | undefined> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const args = (await readFile(`/proc/${entry}/cmdline`, 'latin1').catch(() => '')).split('\0');
    const at = args.indexOf('--listen-client-urls');
    if (at > 0 && args.some((a) => a.includes(text))) return { pid: Number(entry), url: args[at + 1]! };
  }
  return undefined;
}

/** The revision of the etcd at `url` (its JSON gateway), or undefined while it does not answer. */
async function revisionAt(url: string): Promise<number | undefined> {
  const res = await fetch(`${url}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from('/').toString('base64') }) }).catch(() => undefined);
  if (!res?.ok) return undefined;
  return Number(((await res.json()) as { header: { revision: string } }).header.revision);
}

/** Starts `restore latest --to latest --data-dir` and sends its temporary etcd `signal` once it has replayed changes. */
async function killedMidReplay(signal: NodeJS.Signals, name: string): Promise<{ res: Awaited<ReturnType<typeof runCli>>; dataDir: string }> {
  const area = await mkdtemp(join(work, 'area-'));
  const dataDir = join(work, name);
  let child: ChildProcess | undefined;
  const restore = runCli(['restore', 'latest', '--to', 'latest', '--data-dir', dataDir], env({ RS_TMP_DIR: area }), { onStart: (c) => (child = c), timeoutMs: 90_000 });
  // Once it has replayed changes (its revision past the base's), not as soon as it serves: killed then, it died before
  // the restore had seen it start, and the start's failure said the same words: the test passed without the replay's
  // failure (replayFailure) ever running.
  let killed = false;
  for (let i = 0; i < 600 && !killed && child?.exitCode !== 0; i++) {
    const found = await replayEtcd(area);
    if (found !== undefined && ((await revisionAt(found.url)) ?? 0) > base.etcd!.revision + 1) {
      process.kill(found.pid, signal);
      killed = true;
    } else await new Promise((r) => setTimeout(r, 50));
  }
  expect(killed).toBe(true);
  return { res: await restore, dataDir };
}

it('the temporary etcd killed mid-replay: the restore says so, and --data-dir is not written', async () => {
  // As the OOM killer does.
  const { res, dataDir } = await killedMidReplay('SIGKILL', 'restored');
  expect(res.code, res.stderr).toBe(1);
  expect(res.stderr).toContain('reshifter: restore to latest failed: the temporary etcd of the restore was killed by SIGKILL');
  // Said of the replay's failed request, not of the start.
  expect(res.stderr).toMatch(/killed by SIGKILL: .* \(replaying recorded changes into the temporary etcd failed: /);
  expect(res.stderr).toContain('--data-dir was not written');
  await expect(access(dataDir)).rejects.toThrow();
}, 120_000);

it("the temporary etcd stopped by SIGTERM mid-replay (a terminal's Ctrl-C reaching it first): the restore says it stopped", async () => {
  const { res, dataDir } = await killedMidReplay('SIGTERM', 'restored-stopped');
  expect(res.code, res.stderr).toBe(1);
  expect(res.stderr).toContain('reshifter: restore to latest stopped: the temporary etcd of the restore was killed by SIGTERM');
  expect(res.stderr).toContain('--data-dir was not written');
  expect(res.stderr).not.toContain('restore to latest failed');
  await expect(access(dataDir)).rejects.toThrow();
}, 120_000);
