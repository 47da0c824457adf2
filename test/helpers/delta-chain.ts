import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Etcd3, type IWatchResponse } from 'etcd3';
import { isDeltaManifest, type DeltaManifest, type Manifest } from '../../src/archive/manifest.js';
import { loadConfig } from '../../src/config/load-config.js';
import type { DeltaEvent } from '../../src/core/delta-event.js';
import { createLogger } from '../../src/log.js';
import { encryptionKeys } from '../../src/ops/encryption-keys.js';
import { openRepository } from '../../src/ops/repository.js';
import { storeSegment } from '../../src/ops/store-segment.js';
import type { BackupRepository } from '../../src/store/backup-repository.js';
import type { TestEtcd } from './etcd.js';
import { values, type KvInfo } from './keyspace.js';

const run = promisify(execFile);

/**
 * etcd's own history of every key (or the keys under `prefixes`) from revision `from` to `to`, as a recording would
 * see it: a watch from `from` on the real etcd, each change stamped with the time `observed` gives its revision (the
 * test notes when it made each change, as a live watch would have received it).
 */
export async function historyOf(endpoint: string, from: number, to: number, observed: (revision: number) => number, prefixes?: string[]): Promise<DeltaEvent[]> {
  const client = new Etcd3({ hosts: endpoint });
  const events: DeltaEvent[] = [];
  if (from > to) return events;
  try {
    const all = { start: Buffer.from([0]), end: Buffer.from([0]) };
    const watcher = await client.watch().inRange(all).startRevision(String(from)).create();
    await new Promise<void>((resolve, reject) => {
      watcher.on('error', reject);
      const take = (res: IWatchResponse) => {
        for (const ev of res.events) {
          const kv = ev.kv;
          const rev = Number(kv.mod_revision);
          if (rev > to) continue;
          if (prefixes && !prefixes.some((p) => kv.key.toString('latin1').startsWith(`${p}/`))) continue;
          const put = ev.type === 'Put';
          events.push({
            type: put ? 'put' : 'delete',
            key: kv.key,
            value: put ? kv.value : Buffer.alloc(0),
            createRevision: put ? Number(kv.create_revision) : 0,
            modRevision: rev,
            version: put ? Number(kv.version) : 0,
            ...(put && kv.lease !== '0' && { lease: String(kv.lease) }),
            observedAt: observed(rev),
          });
        }
        if (res.events.some((e) => Number(e.kv.mod_revision) >= to)) resolve();
      };
      watcher.on('data', take);
    });
    await watcher.cancel();
    // As the recorder does: each lease's TTL, asked of etcd, for the restore to grant it again.
    for (const e of events) {
      if (e.lease === undefined) continue;
      const res = await client.leaseClient.leaseTimeToLive({ ID: e.lease });
      if (Number(res.TTL) > 0) Object.assign(e, { ttl: Number(res.TTL), grantedTtl: Number(res.grantedTTL) });
    }
  } finally {
    client.close();
  }
  return events;
}

export interface SegmentSpec {
  base: Manifest;
  fromRevision: number;
  toRevision: number;
  /** The history to take the segment's changes from (those in its range). */
  events: DeltaEvent[];
}

/**
 * Stores a delta segment with the recorder's own storeSegment (codec and store from `env`, artifact then manifest),
 * holding the changes of its range.
 */
export async function storeSegmentOf(env: Record<string, string>, s: SegmentSpec): Promise<DeltaManifest> {
  const loaded = loadConfig(env);
  if (loaded.errors) throw new Error(loaded.errors.join('\n'));
  const config = loaded.config;
  const repo = openRepository(config);
  const events = s.events.filter((e) => e.modRevision >= s.fromRevision && e.modRevision <= s.toRevision);
  const chain = { base: s.base.id, baseRevision: s.base.etcd!.revision, etcdVersion: s.base.etcd!.version, ...(s.base.contentType !== 'etcd-snapshot' && s.base.prefixes && { prefixes: s.base.prefixes }) };
  const cut = { fromRevision: s.fromRevision, toRevision: s.toRevision, events, bytes: 0, reason: 'interval' as const };
  const now = new Date(Math.max(Date.now(), ...events.map((e) => e.observedAt)));
  try {
    return await storeSegment({ config, log: createLogger('silent') }, repo, await encryptionKeys(config), chain, cut, { now });
  } finally {
    await repo.store.close();
  }
}

/** Every key of `etcd` as it was at `revision` (etcd's own history: `etcdctl get --rev`), key (base64) -> value (base64). */
export async function valuesAt(etcd: TestEtcd | string, revision: number, prefixes: string[] = []): Promise<Map<string, string>> {
  const args = ['get', '', '--from-key', '--rev', String(revision), '-w', 'json'];
  const raw = typeof etcd === 'string' ? (await run('etcdctl', ['--endpoints', etcd, ...args], { env: { ...process.env, ETCDCTL_API: '3' }, maxBuffer: 1 << 30, encoding: 'utf8' })).stdout : await etcd.ctl(args);
  const text = raw.replace(/"lease":(\d+)/g, '"lease":"$1"');
  const out = JSON.parse(text) as { kvs?: Array<{ key: string; value?: string; lease?: string; create_revision: number }> };
  const map = new Map<string, KvInfo>();
  for (const kv of out.kvs ?? []) {
    const key = Buffer.from(kv.key, 'base64').toString('latin1');
    if (prefixes.length > 0 && !prefixes.some((p) => key.startsWith(`${p}/`))) continue;
    map.set(kv.key, { value: kv.value ?? '', lease: String(kv.lease ?? 0), createRevision: kv.create_revision });
  }
  return values(map);
}

/** The revision etcd is at. */
export async function revisionOf(etcd: TestEtcd): Promise<number> {
  const out = JSON.parse(await etcd.ctl(['get', 'x', '-w', 'json'])) as { header: { revision: number } };
  return out.header.revision;
}

/** Polls the store until a delta segment covers `revision` (run records it within its interval); returns it. */
export async function segmentCovering(repo: BackupRepository, revision: number): Promise<DeltaManifest> {
  for (const end = Date.now() + 30_000; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) {
    const seg = (await repo.list()).backups.find((m): m is DeltaManifest => isDeltaManifest(m) && m.fromRevision <= revision && revision <= m.toRevision);
    if (seg !== undefined) return seg;
  }
  throw new Error(`no segment covers revision ${revision}`);
}
