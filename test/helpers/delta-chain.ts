import { createHash } from 'node:crypto';
import { Readable, Writable, type Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Etcd3, type IWatchResponse } from 'etcd3';
import { encoders } from '../../src/archive/codec.js';
import { DELTA_ARTIFACT_FORMAT, DELTA_CONTENT_TYPE } from '../../src/archive/delta-segment-format.js';
import { DeltaSegmentWriter, segmentStream } from '../../src/archive/delta-segment-writer.js';
import type { Manifest } from '../../src/archive/manifest.js';
import { loadConfig } from '../../src/config/load-config.js';
import type { DeltaEvent } from '../../src/core/delta-event.js';
import { artifactName, newBackupId } from '../../src/core/naming.js';
import { openRepository } from '../../src/ops/repository.js';
import type { TestEtcd } from './etcd.js';
import { values, type KvInfo } from './keyspace.js';

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
  events: DeltaEvent[];
}

/**
 * Stores a delta segment as the recorder does (artifact through the configured codec, then its manifest): the
 * segment writer's bytes, compressed as the base was, in the store `env` names.
 */
export async function storeSegment(env: Record<string, string>, s: SegmentSpec): Promise<Manifest> {
  const loaded = loadConfig(env);
  if (loaded.errors) throw new Error(loaded.errors.join('\n'));
  const repo = openRepository(loaded.config);
  const createdAt = new Date(Math.max(Date.now(), ...s.events.map((e) => e.observedAt)));
  const id = newBackupId(createdAt);
  const events = s.events.filter((e) => e.modRevision >= s.fromRevision && e.modRevision <= s.toRevision);
  const writer = new DeltaSegmentWriter({ cluster: s.base.cluster, base: s.base.id, baseRevision: s.base.etcd.revision, fromRevision: s.fromRevision, createdAt: createdAt.toISOString() });
  const raw = await collect(segmentStream(writer, events, s.toRevision), []);
  const stored = await collect(Readable.from([raw]), encoders({ compression: s.base.compression, level: 3, encryption: 'none' }));
  const artifact = artifactName(id, DELTA_ARTIFACT_FORMAT, s.base.compression, 'none');
  const m = {
    format: 1,
    id,
    cluster: s.base.cluster,
    strategy: 'delta',
    createdAt: createdAt.toISOString(),
    artifact,
    contentType: DELTA_CONTENT_TYPE,
    compression: s.base.compression,
    encryption: 'none',
    sha256: createHash('sha256').update(stored).digest('hex'),
    sizeBytes: stored.length,
    rawSizeBytes: raw.length,
    etcd: { ...s.base.etcd, revision: s.toRevision },
    tool: s.base.tool,
    base: s.base.id,
    fromRevision: s.fromRevision,
    toRevision: s.toRevision,
    events: events.length,
    ...(events.length > 0 && { firstEventAt: new Date(events[0]!.observedAt).toISOString(), lastEventAt: new Date(events[events.length - 1]!.observedAt).toISOString() }),
  } as Manifest;
  try {
    await repo.putArtifact(artifact, Readable.from([stored]));
    await repo.putManifest(m);
  } finally {
    await repo.store.close();
  }
  return m;
}

async function collect(source: Readable, steps: Duplex[]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      cb();
    },
  });
  await pipeline([source, ...steps, sink] as unknown as [Readable, Writable]);
  return Buffer.concat(chunks);
}

/** Every key of `etcd` as it was at `revision` (etcd's own history: `etcdctl get --rev`), key (base64) -> value (base64). */
export async function valuesAt(etcd: TestEtcd, revision: number, prefixes: string[] = []): Promise<Map<string, string>> {
  const text = (await etcd.ctl(['get', '', '--from-key', '--rev', String(revision), '-w', 'json'])).replace(/"lease":(\d+)/g, '"lease":"$1"');
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
